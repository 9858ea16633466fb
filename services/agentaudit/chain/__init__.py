"""Integrity primitives for the audit trail. Pure functions, no I/O.

- merkle.py: RFC 6962 Merkle tree hashing, inclusion proofs and their
  verification (RFC 9162), used for seals and for `agentaudit prove`.
- links.py: the per-agent hash chain (genesis, link, and a verifier that
  names the first bad position).

The chain stage, the sealer and `agentaudit verify` build on these; nothing
here reads or writes Kafka or ClickHouse, so an auditor can run the same code
offline.
"""
