"""Privacy: field classification, redaction before storage, per-subject keys and data-subject requests.

- classification.py: each AgentAction field's class, read from the Avro schema.
- policy.py: the redaction policy file (AGENTAUDIT_PRIVACY_POLICY), checked at start-up.
- tokens.py: the per-tenant pepper, keyed hashes, masks and deterministic encryption.
- redact.py: applies a policy to one decoded action (pure, no I/O).
- keys.py: subject keys on the compacted topic privacy.subject-keys.
- requests.py, dsar.py, cli.py: `agentaudit dsar find|erase`, each request logged.
"""
