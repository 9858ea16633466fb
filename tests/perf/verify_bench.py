"""`agentaudit verify` throughput on a large embedded ClickHouse (issue 3: >= 500,000 records/s).

    .venv/bin/python tests/perf/verify_bench.py [--records 1000000] [--agents 100] [--every 1000]

Builds --records chained records of about 600 bytes over --agents agents in a
fresh chDB folder -- linked and sealed by the processor's own ChainStage and
signed with a real Ed25519 key, stored with the sink's seal rows -- then times
the verifier end to end (ClickHouse read and SHA-256 of every record, links,
Merkle roots, signatures) and prints the figures. Record bodies are random
bytes in the stored framing (header || body || chain link): verification
hashes bytes, it never decodes them, so the figure is the same for real
actions of that size. Nothing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import os
import shutil
import tempfile
import time
from typing import Any

import clickhouse_connect

from agentaudit.chain.forms import chain_link_tail
from agentaudit.chain.seal import SealForm
from agentaudit.codec import SingleObjectCodec, load_schemas
from agentaudit.keyring import verify_signature
from agentaudit.process.chaining import ChainStage, SealPolicy
from agentaudit.sink.rows import COLUMNS, SEALS_TABLE, seal_row
from agentaudit.store import migrate
from agentaudit.verify.run import EPOCH, verify_store
from tests.chain_support import TestSigner

SECOND = 1_000_000


def build(client: Any, database: str, records: int, agents: int, every: int) -> TestSigner:
    codec = SingleObjectCodec()
    signer = TestSigner()
    stage = ChainStage(0, {}, -1, SealPolicy(every, 3600 * SECOND), SealForm(load_schemas()), signer)
    header = codec.header("AuditRecord")
    names = [f"agent-{i:04d}" for i in range(agents)]
    start = (int(time.time()) - 1800) * SECOND
    rows, seals = [], []
    body = os.urandom(600)
    started = time.perf_counter()
    for n in range(records):
        agent = names[n % agents]
        now = start + n
        source = {"topic": "agent.actions", "partition": 0, "offset": n}
        record_body = body[: 500 + n % 100] + n.to_bytes(8, "big")
        link, made = stage.link(agent, "t1", record_body, now, source)
        value = header + record_body + chain_link_tail(link.position, link.prev_hash, link.hash)
        rows.append((f"e-{n}", agent, "t1", now, "agent.actions", 0, n, link.position, link.prev_hash, link.hash, value))
        for seal in made:
            raw = codec.header("Seal") + seal.body
            seals.append(seal_row(codec.decode("Seal", raw), raw))
        if len(rows) == 200_000 or n == records - 1:
            client.insert(f"{database}.audit_records", rows, column_names=[
                "event_id", "agent_id", "tenant_id", "ingest_time", "source_topic", "source_partition",
                "source_offset", "chain_position", "chain_prev_hash", "chain_hash", "record"])
            rows = []
            print(f"  built {n + 1:,} records ({time.perf_counter() - started:.0f}s)", flush=True)
    client.insert(f"{database}.{SEALS_TABLE}", seals, column_names=list(COLUMNS[SEALS_TABLE]))
    print(f"  {len(seals):,} seals")
    return signer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--every", type=int, default=1000, help="records per count seal")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="verify-bench-")
    try:
        client = clickhouse_connect.get_client(dsn=f"chdb://{folder}")
        migrate(client, "bench")
        print(f"building {args.records:,} records over {args.agents} agents (seal every {args.every})…")
        signer = build(client, "bench", args.records, args.agents, args.every)
        keys = signer.public_keys()
        side = clickhouse_connect.get_client(dsn=f"chdb://{folder}")  # as `agentaudit verify` does
        for attempt in range(1, args.repeat + 1):
            report = verify_store(client, "bench", [], EPOCH, None, keys, verify_signature, 3600 * SECOND, side)
            assert report.ok, report.findings[:3]
            print(
                f"run {attempt}: {report.records:,} records, {report.seals:,} seals verified in "
                f"{report.seconds:.2f}s = {report.records / report.seconds:,.0f} records/s"
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
