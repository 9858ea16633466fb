"""Evidence an auditor verifies offline: bundles (`agentaudit export`) and inclusion proofs (`agentaudit prove`).

- formats.py: file names, domain tags, byte slicing and text forms shared by
  writers and verifiers (pure).
- values.py: decodes stored AuditRecord and Seal values with the schemas
  agentaudit ships, so no schema registry is needed offline (pure).
- lines.py: the readable fields written beside each stored value (pure).
- manifest.py: the manifest, its signature and the file hashes (pure).
- bundle.py: `agentaudit verify --bundle`, offline.
- proof.py: building and checking an inclusion proof, offline.
- export.py, prove.py: the ClickHouse side of `export` and `prove`.
- cli.py: the `export` and `prove` commands.

The offline modules (everything but export.py, prove.py and cli.py) import no
database or Kafka client: an auditor needs only the bundle or the proof, and
the public keys they were given. schemas/chain.md specifies the formats.
"""
