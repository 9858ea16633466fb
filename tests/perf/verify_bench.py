"""`agentaudit verify` throughput on a large embedded ClickHouse (issue 3: >= 500,000 records/s).

    .venv/bin/python tests/perf/verify_bench.py [--records 1000000] [--agents 100] [--every 1000]

Builds --records chained records over --agents agents in a fresh chDB folder
-- real AuditRecord encodings of the demo workload's actions (about 450 bytes,
compressing like the demo's), linked and sealed by the processor's own
ChainStage and signed with a real Ed25519 key, stored with the sink's seal
rows -- then times the verifier end to end (ClickHouse read and SHA-256 of
every record, links, Merkle roots, signatures) and prints the figures. The
actions carry random 64-byte signatures in place of agents' real ones:
verification hashes the stored bytes and never checks those, and signing a
million actions would only slow the build. Nothing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import gc
import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import clickhouse_connect

from agentaudit.chain.forms import PrefixForm, chain_link_tail
from agentaudit.chain.seal import SealForm
from agentaudit.codec import SingleObjectCodec, load_schemas
from agentaudit.demo.workload import Act, Workload
from agentaudit.demo.workload import agents as workload_agents
from agentaudit.emit.ids import uuid7
from agentaudit.keyring import verify_signature
from agentaudit.process.chaining import ChainStage, SealPolicy
from agentaudit.sink.rows import COLUMNS, SEALS_TABLE, seal_row
from agentaudit.store import migrate
from agentaudit.verify.run import EPOCH, verify_store
from tests.chain_support import TestSigner

SECOND = 1_000_000


def actions(agents: int) -> Iterator[dict[str, Any]]:
    """The demo workload's actions as its agents would emit them (see demo/driver.py and emit/emitter.py)."""
    sessions: dict[tuple[str, int], tuple[str, itertools.count[int]]] = {}
    for act in Workload(workload_agents(agents), bad_ratio=0.0).plan(1 << 62):
        assert isinstance(act, Act)
        session_id, sequence = sessions.setdefault((act.agent.agent_id, act.session), (uuid7(), itertools.count(1)))
        fields = dict(act.fields)
        if fields.get("approval"):
            fields["approval"] = {**fields["approval"], "decided_at": time.time_ns() // 1000}
        yield {
            "event_id": uuid7(), "agent_id": act.agent.agent_id, "session_id": session_id,
            "sequence": next(sequence), "tenant_id": act.agent.tenant_id,
            "principal": {"type": "user", "id": act.principal}, "action_type": act.action_type,
            "outcome": "success", "parameters": None, "agent_time": time.time_ns() // 1000,
            **fields, "key_id": "k1", "signature": os.urandom(64),
        }


def build(client: Any, database: str, records: int, agents: int, every: int) -> TestSigner:
    codec = SingleObjectCodec()
    schemas = load_schemas()
    form = PrefixForm(schemas, "AuditRecord", ("chain",))  # the processor's record encoding
    signer = TestSigner()
    stage = ChainStage(0, {}, -1, SealPolicy(every, 3600 * SECOND), SealForm(schemas), signer)
    header = codec.header("AuditRecord")
    start = (int(time.time()) - 1800) * SECOND
    rows, seals = [], []
    started = time.perf_counter()
    for n, action in zip(range(records), actions(agents)):
        agent = action["agent_id"]
        now = start + n
        source = {"topic": "agent.actions", "partition": 0, "offset": n}
        record_body = form.encode({
            "action": action, "ingest_time": now, "source": source, "clock_skew_ms": 0, "chain": None,
            "risk_score": None, "rule_hits": [], "attribution": {"agent_version": 1, "key_id": "k1",
                                                                 "algorithm": "ed25519"},
        })
        link, made = stage.link(agent, action["tenant_id"], record_body, now, source)
        value = header + record_body + chain_link_tail(link.position, link.prev_hash, link.hash)
        rows.append((action["event_id"], agent, action["tenant_id"], now, "agent.actions", 0, n, link.position, link.prev_hash, link.hash, value))
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
    stored = client.query(
        f"SELECT (SELECT avg(length(record)) FROM {database}.audit_records), "
        "(SELECT data_compressed_bytes / data_uncompressed_bytes FROM system.columns "
        " WHERE database = {db:String} AND table = 'audit_records' AND name = 'record')",
        parameters={"db": database},
    ).result_rows[0]
    print(f"  {len(seals):,} seals; records average {stored[0]:.0f} bytes, stored compressed to {stored[1]:.0%}")
    return signer


def settle(client: Any, database: str) -> None:
    """Wait until ClickHouse has no merge running on the database."""
    started = time.perf_counter()
    while client.query("SELECT count() FROM system.merges WHERE database = {db:String}",
                       parameters={"db": database}).result_rows[0][0]:
        time.sleep(0.5)
    parts = client.query("SELECT count() FROM system.parts WHERE database = {db:String} AND active "
                         "AND table = 'audit_records'", parameters={"db": database}).result_rows[0][0]
    print(f"  merges settled after {time.perf_counter() - started:.0f}s: audit_records in {parts} parts")


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
        # `agentaudit verify` runs in a fresh process, against a table whose
        # inserts were merged long ago: time neither the build's garbage nor
        # ClickHouse's background merges of the parts just inserted.
        gc.collect()
        gc.freeze()
        settle(client, "bench")
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
