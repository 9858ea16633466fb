"""Audit-query and sink-insert benchmark on embedded ClickHouse (chDB).

    .venv/bin/python tests/perf/query_bench.py [--rows 5000000] [--path DIR]

1. Creates the tables with the real migrations in a fresh chDB folder and
   fills audit_records with synthetic rows (generated inside ClickHouse, so
   the fill is fast): 20 tenants (skewed: the biggest holds ~30%), 2,000
   agents, 30 days of ingest time, realistic action/outcome mixes and a
   ~300-byte record column.
2. Times the CLI's own queries (agentaudit.query.build, parameters bound
   server-side): one agent's day, a tenant's hour, a tenant's day summary, and
   more. Each is run once cold and then --repeat times; the median is printed.
3. Times the sink's write path without Kafka: decode Avro AuditRecords, build
   rows, insert in batches of --batch with dedup tokens (BatchWriter).

Prints figures only; nothing is asserted (timings depend on the machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make the repository root importable (tests.sink_support).
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agentaudit.codec import SingleObjectCodec
from agentaudit.query.build import Filters, records_query
from agentaudit.query.run import run_query, summary
from agentaudit.settings import Settings
from agentaudit.sink.rows import RECORDS_TABLE, record_row
from agentaudit.sink.writer import BatchWriter, dedup_token
from agentaudit.store import connect, migrate

DAYS = 30
TENANTS = 20
AGENTS = 2000

FILL_SQL = """
INSERT INTO {db}.audit_records
    (event_id, agent_id, session_id, sequence, tenant_id, principal_type, principal_id, action_type,
     tool, resource, parameters, outcome, policy_decision, policy_id, policy_version,
     model_provider, model_name, input_tokens, output_tokens, cost_micros, currency,
     agent_time, ingest_time, source_topic, source_partition, source_offset, clock_skew_ms,
     risk_score, rule_hits, record)
SELECT
    toString(generateUUIDv7())                                        AS event_id,
    concat('agent-', toString(a))                                     AS agent_id,
    concat('s-', toString(a), '-', toString(intDiv(number, 50000)))   AS session_id,
    number + 1                                                        AS sequence,
    concat('tenant-', toString(t))                                    AS tenant_id,
    'user'                                                            AS principal_type,
    concat('user-', toString(cityHash64(number, 7) % 50000))          AS principal_id,
    ['llm_call','tool_call','data_read','data_write','external_message','policy_decision','approval'][1 + cityHash64(number, 3) % 7] AS action_type,
    ['search','sql','email','http','files',''][1 + cityHash64(number, 4) % 6] AS tool,
    concat('res-', toString(cityHash64(number, 5) % 1000))            AS resource,
    '{{"q": "select * from customers where id = 42"}}'                AS parameters,
    ['success','success','success','success','success','success','failure','denied','pending'][1 + cityHash64(number, 6) % 9] AS outcome,
    'allow', 'policy-1', '7',
    'openai', 'gpt-4o',
    cityHash64(number, 8) % 4000, cityHash64(number, 9) % 1000, cityHash64(number, 10) % 50000, 'USD',
    ingest_time - toIntervalMillisecond(cityHash64(number, 11) % 2000) AS agent_time,
    ingest_time,
    'agent.actions', toInt32(number % 8), toInt64(intDiv(number, 8)), -toInt64(cityHash64(number, 11) % 2000),
    if(cityHash64(number, 12) % 10 = 0, toInt32(cityHash64(number, 13) % 100), NULL) AS risk_score,
    if(cityHash64(number, 14) % 50 = 0, [('rule-1', 'high', 'matched')], []) AS rule_hits,
    concat(randomPrintableASCII(48), repeat('avro-bytes-of-an-audit-record ', 9)) AS record
FROM
(
    SELECT number,
        -- skewed tenants: tenant-0 gets ~30%, the rest share the remainder
        if(cityHash64(number, 1) % 10 < 3, 0, 1 + cityHash64(number, 1) % {tenants_minus_1}) AS t,
        t * 100 + cityHash64(number, 2) % 100                         AS a,
        fromUnixTimestamp64Micro(toInt64({start_us} + number * {step_us}), 'UTC') AS ingest_time
    FROM numbers({rows})
)
"""


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """(cold seconds, median warm seconds, last result)."""
    start = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - start
    warm = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        warm.append(time.perf_counter() - start)
    return cold, statistics.median(warm), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--path", type=Path, default=None, help="chDB folder (default: a temporary one)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sink-rows", type=int, default=200_000, help="rows for the sink write-path test")
    parser.add_argument("--batch", type=int, default=20_000)
    args = parser.parse_args()

    path = args.path or Path(tempfile.mkdtemp(prefix="agentaudit-bench-"))
    settings = Settings(clickhouse_dsn=f"chdb://{path.resolve()}", clickhouse_database="bench")
    client = connect(settings)
    migrate(client, "bench")
    db = "`bench`"

    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    step_us = DAYS * 86_400 * 1_000_000 // args.rows
    existing = client.query(f"SELECT count() FROM {db}.audit_records").result_rows[0][0]
    if existing < args.rows:
        t0 = time.perf_counter()
        client.command(f"TRUNCATE TABLE {db}.audit_records")
        client.command(FILL_SQL.format(db=db, rows=args.rows, start_us=int(start.timestamp() * 1e6),
                                       step_us=step_us, tenants_minus_1=TENANTS - 1))
        client.command(f"OPTIMIZE TABLE {db}.audit_records FINAL")
        print(f"filled {args.rows:,} rows in {time.perf_counter() - t0:.1f}s (generated in ClickHouse, then merged)")
    stats = client.query(f"SELECT count(), min(ingest_time), max(ingest_time) FROM {db}.audit_records").result_rows[0]
    disk = client.query(
        "SELECT sum(data_compressed_bytes), count() FROM system.parts "
        "WHERE database = 'bench' AND table = 'audit_records' AND active"
    ).result_rows[0]
    print(f"audit_records: {stats[0]:,} rows from {stats[1]} to {stats[2]} UTC, "
          f"{disk[0] / 2**20:.0f} MiB compressed in {disk[1]} parts")

    busy_agent = client.query(
        f"SELECT agent_id, tenant_id FROM {db}.audit_records WHERE tenant_id = 'tenant-0' "
        "GROUP BY agent_id, tenant_id ORDER BY count() DESC LIMIT 1"
    ).result_rows[0]
    agent, tenant = str(busy_agent[0]), str(busy_agent[1])
    day = end - timedelta(days=3)
    hour = end - timedelta(hours=5)
    cases: list[tuple[str, Callable[[], Any]]] = [
        (f"one agent, one day ({agent}, with tenant)", lambda: run_query(client, records_query(
            "bench", Filters(day, day + timedelta(days=1), {"tenant": (tenant,), "agent": (agent,)}, limit=0)))),
        (f"one agent, one day ({agent}, no tenant)", lambda: run_query(client, records_query(
            "bench", Filters(day, day + timedelta(days=1), {"agent": (agent,)}, limit=0)))),
        ("one agent, one day, newest 100", lambda: run_query(client, records_query(
            "bench", Filters(day, day + timedelta(days=1), {"tenant": (tenant,), "agent": (agent,)}, limit=100)))),
        (f"tenant-wide, one hour ({tenant}, all rows)", lambda: run_query(client, records_query(
            "bench", Filters(hour, hour + timedelta(hours=1), {"tenant": (tenant,)}, limit=0)))),
        ("tenant-wide, one hour, denied only", lambda: run_query(client, records_query(
            "bench", Filters(hour, hour + timedelta(hours=1), {"tenant": (tenant,), "outcome": ("denied",)}, limit=0)))),
        ("all tenants, one hour, newest 100", lambda: run_query(client, records_query(
            "bench", Filters(hour, hour + timedelta(hours=1), {}, limit=100)))),
        ("one principal, 7 days (bloom filter)", lambda: run_query(client, records_query(
            "bench", Filters(end - timedelta(days=7), end, {"principal": ("user-123",)}, limit=0)))),
        ("summary, tenant, one day", lambda: summary(client, settings, day, day + timedelta(days=1), tenant=(tenant,))),
        ("summary, everything, 30 days", lambda: summary(client, settings, start, end)),
    ]
    print(f"\n{'query':58} {'cold':>9} {'median':>9} {'rows':>8}")
    for name, fn in cases:
        cold, warm, result = timed(fn, args.repeat)
        count = result["recorded"] if isinstance(result, dict) else len(result)
        print(f"{name:58} {cold * 1000:7.1f}ms {warm * 1000:7.1f}ms {count:8,}")

    sink_write_path(client, args.sink_rows, args.batch)
    client.close()
    print(f"\ndata kept in {path}")


def sink_write_path(client: Any, rows: int, batch: int) -> None:
    """Decode + row + insert, as the sink does per batch, minus Kafka."""
    from tests.sink_support import record

    codec = SingleObjectCodec()
    now_us = int(time.time()) * 1_000_000
    encoded = [codec.encode("AuditRecord", record(i, i % 8, ingest_us=now_us + i, full=i % 4 == 0)) for i in range(batch)]
    writer = BatchWriter(client, "bench")
    decode_s = insert_s = 0.0
    done = 0
    while done < rows:
        t0 = time.perf_counter()
        batch_rows = [record_row(codec.decode("AuditRecord", raw), raw) for raw in encoded]
        t1 = time.perf_counter()
        writer.insert(RECORDS_TABLE, batch_rows, dedup_token(RECORDS_TABLE, [("bench", 0, done, done + batch - 1)]))
        t2 = time.perf_counter()
        decode_s += t1 - t0
        insert_s += t2 - t1
        done += batch
    print(f"\nsink write path, {done:,} rows in batches of {batch:,}:")
    print(f"  decode+row  {done / decode_s:10,.0f} rows/s")
    print(f"  insert      {done / insert_s:10,.0f} rows/s")
    print(f"  together    {done / (decode_s + insert_s):10,.0f} rows/s")


if __name__ == "__main__":
    main()
