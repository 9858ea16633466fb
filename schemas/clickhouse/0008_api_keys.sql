-- api_keys: every change to the query API's keys, one row per change.
--
-- A key is created, then possibly revoked; its state is the newest row, computed
-- on read (the API's keystore module), so the table stays append-only like every
-- other audit table and a key's whole history is evidence (CC6.2: how are
-- credentials issued and removed). The secret itself is never stored: only
-- SHA-256 over the key id and the secret (the secrets are 256-bit random, so a
-- fast hash is enough; nothing here can be guessed from it).
-- No TTL: a key's history stays as long as the reads made with it.
CREATE TABLE IF NOT EXISTS ${database}.api_keys
(
    key_id       String COMMENT 'public part of the key (aak_<key_id>_<secret>)',
    change       LowCardinality(String) COMMENT 'created or revoked',
    name         String COMMENT 'who or what holds the key',
    role         LowCardinality(String) COMMENT 'admin, analyst, auditor or agent',
    tenants      Array(String) COMMENT 'tenants the key may see; [''*''] for every tenant',
    agent_id     String COMMENT 'for agent keys: the one agent it may emit for',
    secret_hash  String COMMENT 'SHA-256(key id, secret) as hex; empty on revocations',
    expires_at   Nullable(DateTime64(6, 'UTC')),
    changed_at   DateTime64(6, 'UTC'),
    actor        String COMMENT 'the key (aak id and name) or operator that made the change',
    reason       String,
    stored_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (key_id, changed_at)
COMMENT 'Query API keys: creations and revocations, append-only; secrets only as hashes.';
