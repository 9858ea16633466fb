"""Merkle root, inclusion-proof and hash-chain throughput (pure CPU, no I/O).

    .venv/bin/python tests/perf/merkle_bench.py [--leaves 500000] [--repeat 5]

Leaf inputs are 32-byte values, as in a seal (the sealed records' chain
hashes). Prints the best of --repeat runs for:
  - root():        RFC 6962 root over all leaves       (target: 500,000 leaves/s)
  - first_break(): verify a chain of ~300-byte records (issue 3: 500,000 records/s)
  - link():        hashing a chain record by record, as the chain stage does
Prints figures only; nothing is asserted (timings depend on the machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: make services/ importable without installing.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import os

from agentaudit.chain.links import ChainEntry, first_break, genesis, link
from agentaudit.chain import merkle
from agentaudit.chain.merkle import inclusion_proof, root, verify_inclusion
from tests.perf.timing import best_of



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--record-bytes", type=int, default=300)
    args = parser.parse_args()
    n = args.leaves

    short = merkle._short_sha256
    print(f"python {sys.version.split()[0]}; merkle hashes with {short.__module__}.{short.__name__}")

    leaves = [os.urandom(32) for _ in range(n)]
    t = best_of(args.repeat, lambda: root(leaves))
    print(f"root over {n:,} leaves: {t * 1000:.0f} ms = {n / t:,.0f} leaves/s")

    proof_leaves = leaves[:65_536]
    index = 12_345
    t_proof = best_of(args.repeat, lambda: inclusion_proof(index, proof_leaves))
    proof = inclusion_proof(index, proof_leaves)
    tree_root = root(proof_leaves)
    t_verify = best_of(args.repeat, lambda: verify_inclusion(proof_leaves[index], index, 65_536, proof, tree_root))
    print(f"inclusion proof in a 65,536-leaf tree: build {t_proof * 1000:.1f} ms, verify {t_verify * 1e6:.1f} us")

    payload = os.urandom(args.record_bytes)
    records = [payload[:-8] + i.to_bytes(8, "big") for i in range(n)]

    def relink() -> list[ChainEntry]:
        entries: list[ChainEntry] = []
        prev = genesis("bench-agent")
        for position, data in enumerate(records, start=1):
            h = link(prev, data)
            entries.append((position, prev, h, data))
            prev = h
        return entries

    t = best_of(args.repeat, relink)
    print(f"link {n:,} records of {args.record_bytes} B: {n / t:,.0f} records/s")
    entries = relink()
    anchor = genesis("bench-agent")
    t = best_of(args.repeat, lambda: first_break(entries, anchor=anchor))
    assert first_break(entries, anchor=anchor) is None
    print(f"first_break over {n:,} records of {args.record_bytes} B: {n / t:,.0f} records/s")


if __name__ == "__main__":
    main()
