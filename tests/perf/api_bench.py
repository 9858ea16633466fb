"""Query API latency on 10 million stored records, over real HTTP, on embedded ClickHouse (chDB).

    .venv/bin/python tests/perf/api_bench.py [--rows 10000000] [--requests 200] [--path DIR]

1. Fills audit_records with synthetic rows generated inside ClickHouse (the
   fill of tests/perf/query_bench.py: 20 tenants, the biggest ~30%, 2,000
   agents, 30 days), unless the folder already holds enough.
2. Starts the API (agentaudit.api.server) on a local port with an analyst key
   of the biggest tenant, and sends `--requests` one-agent, one-day searches
   (GET /v1/actions, first page of 100, a random agent and day each time),
   then other shapes. Every request is authenticated, tenant-scoped and
   written to the access log, as in production.
3. Runs the same one-agent, one-day SQL straight through clickhouse-connect,
   so the API's own share (HTTP, key check, access log) is visible.

Prints p50/p95/p99 per shape; nothing is asserted (timings depend on the machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from agentaudit.api.access import Role
from agentaudit.api.actions import ActionQuery, page
from agentaudit.api.keystore import KeyStore
from agentaudit.settings import Settings
from agentaudit.store import connect, migrate
from tests.api_support import running_api
from tests.perf.query_bench import DAYS, FILL_SQL, TENANTS

TENANT = "tenant-0"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000
    return f"p50 {at(0.50):7.1f} ms   p95 {at(0.95):7.1f} ms   p99 {at(0.99):7.1f} ms   max {ordered[-1] * 1000:7.1f} ms"


def measure(name: str, count: int, one: Callable[[int], int]) -> None:
    samples, rows = [], 0
    for n in range(count):
        start = time.perf_counter()
        rows += one(n)
        samples.append(time.perf_counter() - start)
    print(f"{name:52} {percentiles(samples)}   {rows / count:7.0f} items/request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--path", type=Path, default=None, help="chDB folder (default: a temporary one)")
    args = parser.parse_args()

    path = args.path or Path(tempfile.mkdtemp(prefix="agentaudit-api-bench-"))
    settings = Settings(clickhouse_dsn=f"chdb://{path.resolve()}", clickhouse_database="bench", metrics_port=-1)
    client = connect(settings)
    migrate(client, "bench")
    db = "`bench`"
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    existing = client.query(f"SELECT count() FROM {db}.audit_records").result_rows[0][0]
    if existing < args.rows:
        t0 = time.perf_counter()
        client.command(f"TRUNCATE TABLE {db}.audit_records")
        client.command(FILL_SQL.format(db=db, rows=args.rows, start_us=int(start.timestamp() * 1e6),
                                       step_us=DAYS * 86_400 * 1_000_000 // args.rows, tenants_minus_1=TENANTS - 1))
        client.command(f"OPTIMIZE TABLE {db}.audit_records FINAL")
        print(f"filled {args.rows:,} rows in {time.perf_counter() - t0:.1f}s", flush=True)
    first, last, total = client.query(
        f"SELECT min(ingest_time), max(ingest_time), count() FROM {db}.audit_records").result_rows[0]
    agents = [r[0] for r in client.query(
        f"SELECT DISTINCT agent_id FROM {db}.audit_records WHERE tenant_id = {{t:String}}",
        parameters={"t": TENANT}).result_rows]
    print(f"audit_records: {total:,} rows, {first} to {last} UTC; {TENANT}: {len(agents)} agents")
    _, key = KeyStore(client, "bench").create("bench analyst", Role.ANALYST, (TENANT,), "bench")
    rng = random.Random(7)
    days = [(first + timedelta(days=d)).replace(hour=0, minute=0, second=0, microsecond=0).replace(tzinfo=UTC)
            for d in range(1, DAYS - 1)]
    picks = [(rng.choice(agents), rng.choice(days)) for _ in range(args.requests)]

    def window(day: datetime, hours: int = 24) -> dict[str, str]:
        return {"since": day.isoformat(), "until": (day + timedelta(hours=hours)).isoformat()}

    print(f"\n{args.requests} requests per shape, analyst key of {TENANT}, one request at a time:")
    # chDB serves one process: the API gets the folder, the direct runs come after it stops.
    client.close()
    with running_api(settings) as http:
        http.get("/v1/whoami", key)  # warm up the connection and the key's table
        def one_agent_day(n: int) -> int:
            agent, day = picks[n]
            reply = http.get("/v1/actions", key, agent=agent, limit=100, **window(day))
            assert reply.status == 200, reply.body
            return len(reply.body["items"])
        measure("one agent, one day, first page of 100 (HTTP)", args.requests, one_agent_day)

        def one_agent_day_all(n: int) -> int:
            agent, day = picks[n]
            items, cursor = 0, None
            while True:
                params = {"agent": agent, "limit": 1000, **window(day), **({"cursor": cursor} if cursor else {})}
                reply = http.get("/v1/actions", key, **params)
                items += len(reply.body["items"])
                cursor = reply.body["next_cursor"]
                if cursor is None:
                    return items
        measure("one agent, one day, every page of 1000 (HTTP)", min(50, args.requests), one_agent_day_all)

        def tenant_hour(n: int) -> int:
            day = picks[n][1] + timedelta(hours=n % 24)
            return len(http.get("/v1/actions", key, limit=100, **window(day, 1)).body["items"])
        measure("tenant-wide, one hour, first page of 100 (HTTP)", args.requests, tenant_hour)

        def denied_week(n: int) -> int:
            day = picks[n][1]
            return len(http.get("/v1/actions", key, outcome="denied", agent=picks[n][0], limit=100,
                                **window(day, 24 * 7)).body["items"])
        measure("one agent, denied, 7 days (HTTP)", args.requests, denied_week)

    client = connect(settings)
    def direct(n: int) -> int:
        agent, day = picks[n]
        rows, _ = page(client, "bench", ActionQuery(day, day + timedelta(days=1),
                                                    {"tenant": (TENANT,), "agent": (agent,)}, limit=100))
        return len(rows)
    measure("one agent, one day, first page of 100 (SQL only)", args.requests, direct)
    reads = client.query(f"SELECT count(), avg(duration_ms) FROM {db}.api_reads").result_rows[0]
    print(f"\naccess log: {reads[0]:,} requests recorded, {reads[1]:.1f} ms average inside the API")
    client.close()
    print(f"data kept in {path}")


if __name__ == "__main__":
    main()
