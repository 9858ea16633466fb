"""One chDB session acting as one ClickHouse account; run by test_clickhouse_accounts.py.

    python -m tests.integration.account_session STEP DATA_DIR CONFIG_FILE [PUBLIC_KEYS_JSON]

STEP is `setup` (migrate, then report what ClickHouse made of the users file),
`writer` (what the sink does, then what it must not do), `reader` (what
`agentaudit query` and `agentaudit verify` do, then what they must not do) or
`api` (what the query API's account sees under each tenant scope).
Prints one JSON object: each attempt's label and "ok", or the ClickHouse error
code that refused it (or the exception, for anything else). A child process
per step, because chDB runs one engine per process and the session user's
rights are fixed when the engine loads its configuration.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any

import clickhouse_connect

from agentaudit.codec import SingleObjectCodec
from agentaudit.settings import Settings
from agentaudit.sink.consumer import Sink
from agentaudit.sink.rows import rejection_row
from agentaudit.sink.writer import BatchWriter, RetryPolicy
from agentaudit.store import migrate

DATABASE = "agentaudit"
ACCOUNTS = ("admin", "writer", "analyst", "auditor", "api")


def outcome(attempt: Callable[[], Any]) -> str:
    try:
        attempt()
    except Exception as exc:  # the refusal is the result being reported
        code = re.search(r"Code: (\d+)", str(exc))
        return code[1] if code else f"{type(exc).__name__}: {exc}"
    return "ok"


def statements(client: Any, sql: list[str]) -> dict[str, str]:
    """Each statement's outcome, keyed by its text (DB. stands for the database)."""

    def run(statement: str) -> Callable[[], Any]:
        return lambda: client.command(statement.replace("DB.", f"{DATABASE}."))

    return {s: outcome(run(s)) for s in sql}


def setup(client: Any) -> dict[str, Any]:
    migrate(client, DATABASE)
    grants = {a: str(client.command(f"SHOW GRANTS FOR {a}")).splitlines() for a in ACCOUNTS}
    return {
        "grants": grants,
        # Even a session allowed to manage accounts cannot change one defined in a users file.
        "alter users.xml account": outcome(lambda: client.command("GRANT ALTER ON *.* TO writer")),
    }


def writer(client: Any) -> dict[str, Any]:
    from tests.chain_fixture import store_chains
    from tests.sink_support import rejection

    out: dict[str, Any] = {}
    stored: list[Any] = []
    # Sealed chains stored through clickhouse-connect's insert, as the sink does.
    out["store sealed chains"] = outcome(lambda: stored.append(store_chains(client, DATABASE)))
    if stored:
        out["public_keys"] = {k: v.hex() for k, v in stored[0].signer.public_keys().items()}
        out["records"] = stored[0].records
    codec = SingleObjectCodec()
    raw = codec.encode("Rejection", rejection(1))
    batch_writer = BatchWriter(client, DATABASE, RetryPolicy(attempts=1))
    out["insert a rejection"] = outcome(
        lambda: batch_writer.insert("audit_rejections", [rejection_row(codec.decode("Rejection", raw), raw)], "t-1")
    )
    sink = Sink(Settings(clickhouse_database=DATABASE), None, client, codec, writer=batch_writer)
    out["read high-water marks"] = outcome(sink._load_marks)
    out["migrate"] = outcome(lambda: migrate(client, DATABASE))
    out.update(statements(client, [
        "SELECT record FROM DB.audit_records",
        "SELECT * FROM DB.audit_rejections",
        "SELECT version FROM DB.schema_migrations",
        "ALTER TABLE DB.audit_records UPDATE outcome = 'success' WHERE 1",
        "ALTER TABLE DB.audit_records DELETE WHERE 1",
        "DELETE FROM DB.audit_seals WHERE 1",
        "TRUNCATE TABLE DB.audit_records",
        "DROP TABLE DB.audit_seals",
        "ALTER TABLE DB.audit_records DROP PARTITION tuple()",
        "ALTER TABLE DB.audit_records MODIFY TTL toDateTime(ingest_time) + INTERVAL 1 DAY",
        "OPTIMIZE TABLE DB.audit_records FINAL",
        "CREATE TABLE DB.scratch (a Int8) ENGINE = Memory",
        "INSERT INTO DB.schema_migrations (version, name, checksum) VALUES (99, 'x', 'y')",
        "GRANT SELECT ON DB.audit_records TO CURRENT_USER",
        "CREATE USER intruder",
        "SET allow_ddl = 1",
    ]))  # fmt: skip
    return out


def reader(client: Any, public_keys: dict[str, bytes]) -> dict[str, Any]:
    from agentaudit.query.build import Filters, records_query
    from agentaudit.query.run import run_query, summary
    from agentaudit.verify.run import EPOCH, FAR_FUTURE, verify_agents
    from agentaudit.verify.store import read
    from agentaudit.keyring import verify_signature as check_signature

    out: dict[str, Any] = {}
    rows: list[Any] = []
    out["query"] = outcome(lambda: rows.extend(run_query(client, records_query(DATABASE, Filters(None, None)))))
    out["query rows"] = len(rows)
    out["summary"] = outcome(lambda: summary(client, Settings(clickhouse_database=DATABASE)))
    reports: list[Any] = []
    out["verify"] = outcome(lambda: reports.append(verify_agents(
        read(client, DATABASE, [], EPOCH, FAR_FUTURE), public_keys, check_signature, 10_000_000, None
    )))  # fmt: skip
    if reports:
        out["verified records"] = reports[0].records
        out["verify ok"] = reports[0].ok
    out.update(statements(client, [
        "INSERT INTO DB.audit_records (event_id) VALUES ('x')",
        "ALTER TABLE DB.audit_records DELETE WHERE 1",
        "DROP TABLE DB.audit_records",
        "SELECT count() FROM DB.schema_migrations",
        "CREATE TEMPORARY TABLE scratch (a Int8)",
        "GRANT SELECT ON DB.audit_records TO CURRENT_USER",
        "SET readonly = 0",
        "SET max_execution_time = 0",
        "SET max_execution_time = 1000000",
        "SET max_memory_usage = 0",
        "SET max_memory_usage = 1000000000000000",
        # Lowering a limit, and the per-query settings clients send, stay allowed.
        "SET max_execution_time = 30",
        "SET output_format_arrow_string_as_string = 0",
    ]))  # fmt: skip
    return out


def api(client: Any) -> dict[str, Any]:
    """What the query API's account sees per tenant scope (the scope rides in log_comment or the real setting)."""
    out: dict[str, Any] = {}
    for table in ("audit_records", "audit_seals", "agent_registry", "audit_rejections", "audit_incidents",
                  "alert_deliveries", "api_reads"):
        out[f"{table}, no scope"] = outcome(lambda t=table: client.query(f"SELECT count() FROM {DATABASE}.{t}"))
    for scope in ("acme", "globex", "*", "globex,acme", ""):
        counted: list[int] = []
        out[f"records, scope {scope!r}"] = outcome(lambda s=scope: counted.append(int(client.query(
            f"SELECT count() FROM {DATABASE}.audit_records", settings={"log_comment": s}).result_rows[0][0])))
        out[f"records seen, scope {scope!r}"] = counted[0] if counted else None
    out.update(statements(client, [
        "SELECT count() FROM DB.api_keys",
        "INSERT INTO DB.api_reads (read_id, key_id) VALUES ('r', 'k')",
        "INSERT INTO DB.api_keys (key_id, change) VALUES ('k', 'created')",
        "INSERT INTO DB.audit_records (event_id) VALUES ('x')",
        "ALTER TABLE DB.api_reads DELETE WHERE 1",
        "DROP TABLE DB.api_reads",
        "SET allow_ddl = 1",
    ]))  # fmt: skip
    return out


def main(argv: list[str]) -> None:
    step, data, config = argv[:3]
    client = clickhouse_connect.get_client(interface="chdb", path=data, chdb_options={"config-file": config})
    try:
        if step == "setup":
            result = setup(client)
        elif step == "writer":
            result = writer(client)
        elif step == "api":
            result = api(client)
        else:
            keys = {k: bytes.fromhex(v) for k, v in json.loads(argv[3]).items()}
            result = reader(client, keys)
        result["session readonly"] = str(client.command("SELECT getSetting('readonly')"))
    finally:
        client.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
