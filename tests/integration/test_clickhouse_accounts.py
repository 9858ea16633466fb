"""The ClickHouse accounts as ClickHouse's own engine applies them (chDB, the engine of the local mode).

deploy/clickhouse/users.d/agentaudit.xml is loaded unchanged by the engine's
users.xml parser, into a users.d/ beside a base users.xml like the one the
clickhouse-server image ships. chDB runs every query as the user `default`, so
a second users.d file makes `default` a stand-in for one account: exactly
that account's <grants> and <profile>, copied from the file. What is checked
is therefore ClickHouse's own enforcement of those grants and profiles on the
project's real code paths: the writer stores sealed chains and reads its
high-water marks like the sink, the readers query and verify them, and every
statement that would rewrite, remove or widen anything is refused.

Not covered here (no server): logging in over HTTP with a password from the
environment, and the compose wiring (tests/unit/deploy checks that statically).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from agentaudit.api.server import ROW_POLICY_SETTING
from tests.unit.deploy.clickhouse_support import grants_of, parse_grant, parse_users
from tests.unit.deploy.compose_support import CLICKHOUSE_USERS_FILE, ROOT

pytestmark = pytest.mark.integration

ACCESS_DENIED, QUERY_IS_PROHIBITED, READONLY, SETTING_CONSTRAINT_VIOLATION = "497", "392", "164", "452"
ACCESS_STORAGE_READONLY = "495"
UNKNOWN_SETTING = "115"

Stored = tuple[Path, dict[str, Any], dict[str, Any]]  # data folder, setup report, writer report

# What the clickhouse/clickhouse-server image's own users.xml provides: the
# default profile and quota the accounts refer to, and a `default` user (which
# agentaudit.xml removes).
BASE_USERS = """<clickhouse>
    <profiles><default/></profiles>
    <quotas><default/></quotas>
    <users>
        <default>
            <password/><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>
        </default>
    </users>
</clickhouse>
"""


def session_config(folder: Path, account: str | None, readonly: str | None = None,
                   scope_setting: str | None = None) -> Path:
    """An engine configuration whose session user stands in for `account` (None: full rights).

    `readonly` replaces the readers' readonly level in the copy, to show what another level would do.
    `scope_setting` replaces the setting the api account's row filters read: chDB has no custom
    settings (SQL_...), so the filters' logic is shown with a built-in string setting instead.
    """
    users_d = folder / "users.d"
    users_d.mkdir(parents=True)
    text = CLICKHOUSE_USERS_FILE.read_text()
    if readonly is not None:
        assert "<readonly>2</readonly>" in text
        text = text.replace("<readonly>2</readonly>", f"<readonly>{readonly}</readonly>")
    if scope_setting is not None:
        assert ROW_POLICY_SETTING in text
        text = text.replace(ROW_POLICY_SETTING, scope_setting)
    (users_d / "agentaudit.xml").write_text(text)
    if account is None:
        rights = "<profile>default</profile><access_management>1</access_management>"
    else:
        user = parse_users()[0][account]
        grants = user.find("grants")
        assert grants is not None
        rights = f"<profile>{user.findtext('profile')}</profile>{ET.tostring(grants, encoding='unicode')}"
        databases = user.find("databases")  # row filters
        if databases is not None:
            filters = ET.tostring(databases, encoding="unicode")
            rights += filters if scope_setting is None else filters.replace(ROW_POLICY_SETTING, scope_setting)
    # Sorts after agentaudit.xml, so it re-adds the `default` that file removes.
    (users_d / "zz_session.xml").write_text(
        "<clickhouse><users><default><password/><networks><ip>::/0</ip></networks><quota>default</quota>"
        f"{rights}</default></users></clickhouse>"
    )
    (folder / "users.xml").write_text(BASE_USERS)
    config = folder / "config.xml"
    config.write_text(f"<clickhouse><users_config>{folder / 'users.xml'}</users_config></clickhouse>")
    return config


def run_session(step: str, data: Path, config: Path, *args: str) -> dict[str, Any]:
    # from_env needs every password variable to be set; the values do not matter here.
    env = {**os.environ, **{f"CLICKHOUSE_{a}_PASSWORD": "unused" for a in ("ADMIN", "WRITER", "ANALYST", "AUDITOR", "API")}}
    done = subprocess.run(
        [sys.executable, "-m", "tests.integration.account_session", step, str(data), str(config), *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Stored:
    """A migrated database, then sealed chains stored as the writer: (data, setup report, writer report)."""
    data = tmp_path_factory.mktemp("accounts-data")
    setup = run_session("setup", data, session_config(tmp_path_factory.mktemp("setup"), None))
    written = run_session("writer", data, session_config(tmp_path_factory.mktemp("writer"), "writer"))
    return data, setup, written


def test_clickhouse_reads_every_grant_as_written(stored: Stored) -> None:
    _data, setup, _written = stored
    users = parse_users()[0]
    for account in ("writer", "analyst", "auditor"):
        shown = {g for line in setup["grants"][account] for g in parse_grant(line.removesuffix(f" TO {account}"))}
        assert shown == grants_of(users[account]), account
    assert any("ALTER" in line and "CREATE" in line and "DROP" in line for line in setup["grants"]["admin"])
    assert any("CREATE USER" in line for line in setup["grants"]["admin"])
    assert setup["alter users.xml account"] == ACCESS_STORAGE_READONLY


def test_the_writer_does_what_the_sink_does_and_nothing_else(stored: Stored) -> None:
    written = dict(stored[2])  # a copy: the readers' tests need the module's report whole
    for step in ("store sealed chains", "insert a rejection", "read high-water marks"):
        assert written.pop(step) == "ok", step
    assert written.pop("records") > 0 and written.pop("public_keys")
    assert written.pop("session readonly") == "0"
    assert written.pop("SET allow_ddl = 1") == QUERY_IS_PROHIBITED
    refused = {statement: result for statement, result in written.items() if result != ACCESS_DENIED}
    assert refused == {}, f"the writer was not refused (ACCESS_DENIED) for: {refused}"


@pytest.mark.parametrize("account", ["analyst", "auditor"])
def test_readers_query_and_verify_and_can_do_nothing_else(
    stored: Stored, account: str, tmp_path: Path
) -> None:
    data, _setup, written = stored
    read = run_session("reader", data, session_config(tmp_path, account), json.dumps(written["public_keys"]))
    assert read.pop("session readonly") == "2"
    assert (read.pop("query"), read.pop("summary"), read.pop("verify")) == ("ok", "ok", "ok")
    assert read.pop("query rows") > 0
    assert read.pop("verify ok") is True and read.pop("verified records") == written["records"]
    assert read.pop("SET readonly = 0") == READONLY
    for statement in ("SET max_execution_time = 30", "SET output_format_arrow_string_as_string = 0"):
        assert read.pop(statement) == "ok", statement
    for statement in ("SET max_execution_time = 0", "SET max_execution_time = 1000000",
                      "SET max_memory_usage = 0", "SET max_memory_usage = 1000000000000000"):
        assert read.pop(statement) == SETTING_CONSTRAINT_VIOLATION, statement
    refused = {statement: result for statement, result in read.items() if result != ACCESS_DENIED}
    assert refused == {}, f"{account} was not refused (ACCESS_DENIED) for: {refused}"


def test_readonly_1_would_break_verify(stored: Stored, tmp_path: Path) -> None:
    # Why the readers' profiles say readonly = 2: clients set per-query
    # settings (Grafana's datasource sends max_execution_time with every
    # query, clickhouse-connect format settings), which readonly = 1 refuses.
    data, _setup, written = stored
    read = run_session("reader", data, session_config(tmp_path, "auditor", readonly="1"),
                       json.dumps(written["public_keys"]))
    assert read["session readonly"] == "1"
    assert read["query"] == "ok"
    assert read["SET max_execution_time = 30"] != "ok"
    assert read["SET output_format_arrow_string_as_string = 0"] != "ok"


def test_the_session_stand_in_is_what_the_file_says(tmp_path: Path) -> None:
    config = session_config(tmp_path, "writer")
    session = ET.parse(config.parent / "users.d" / "zz_session.xml").getroot().find("users/default")
    assert session is not None
    assert grants_of(session) == grants_of(parse_users()[0]["writer"])
    assert session.findtext("profile") == "agentaudit_writer"
    assert (config.parent / "users.d" / "agentaudit.xml").read_bytes() == CLICKHOUSE_USERS_FILE.read_bytes()


def test_the_api_account_sees_nothing_without_a_tenant_scope(stored: Stored, tmp_path: Path) -> None:
    """The shipped filters, as ClickHouse loads them: a read without the scope setting fails, never sees all."""
    data, _setup, _written = stored
    seen = run_session("api", data, session_config(tmp_path, "api"))
    for table in ("audit_records", "audit_seals", "agent_registry", "audit_rejections", "audit_incidents",
                  "alert_deliveries", "api_reads"):
        assert seen[f"{table}, no scope"] == UNKNOWN_SETTING, table
    assert seen["SELECT count() FROM DB.api_keys"] == "ok", "keys are read to authenticate, before any scope"


def test_the_api_account_sees_only_the_tenants_of_its_scope(stored: Stored, tmp_path: Path) -> None:
    data, _setup, written = stored
    seen = run_session("api", data, session_config(tmp_path, "api", scope_setting="log_comment"))
    records = written["records"]  # every stored chain is tenant acme's
    assert {s: seen[f"records seen, scope {s!r}"] for s in ("acme", "globex", "*", "globex,acme", "")} == \
        {"acme": records, "globex": 0, "*": records, "globex,acme": records, "": 0}
    for statement in ("INSERT INTO DB.api_reads (read_id, key_id) VALUES ('r', 'k')",
                      "INSERT INTO DB.api_keys (key_id, change) VALUES ('k', 'created')"):
        assert seen[statement] == "ok", statement
    for statement in ("INSERT INTO DB.audit_records (event_id) VALUES ('x')", "ALTER TABLE DB.api_reads DELETE WHERE 1",
                      "DROP TABLE DB.api_reads"):
        assert seen[statement] == ACCESS_DENIED, statement
    assert seen["SET allow_ddl = 1"] == QUERY_IS_PROHIBITED
