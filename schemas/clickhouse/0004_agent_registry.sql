-- agent_registry: one row per RegistryChange consumed from agent.registry, the
-- agent's identity, scope, keys and status after each change (CC6.2, CC6.3),
-- who made it and who approved it (CC8.1), beside the change's exact Avro bytes.
--
-- Append-only: INSERT only, never UPDATE, DELETE or a mutation (invariant 5).
-- Each row carries the entry's place in the registry's hash chain (position,
-- prev_hash, hash) and the pipeline's signature, so the table can be verified
-- on its own: hash = SHA-256(prev_hash || canonical bytes), where the
-- canonical bytes are built from these columns and the definition JSON
-- (schemas/README.md, "The registry chain").
--
-- No TTL, on purpose, unlike the audit tables: a row is the only record of an
-- agent's definition for as long as that definition is in effect, which can be
-- longer than any retention period. With a TTL on valid_from, an agent
-- registered 400 days ago and unchanged since would lose its only row while its
-- actions of yesterday are still in audit_records, and "what was it allowed to
-- do" would have no answer. The topic keeps the history forever too
-- (retention.ms=-1); the table is small (one row per change, not per action).
--
-- Why this ORDER BY: registry questions are scoped by tenant and agent
-- ("history of agent X", "X's definition in effect at D"); position orders an
-- agent's changes and makes the order total.
CREATE TABLE IF NOT EXISTS ${database}.agent_registry
(
    position        UInt64 COMMENT 'place in the registry: 1, 2, 3, ... across all agents',
    change_id       String COMMENT 'UUIDv7 of the change',
    kind            LowCardinality(String) COMMENT 'register, suspend, reactivate, retire, rotate_key',
    agent_id        LowCardinality(String),
    tenant_id       LowCardinality(String),
    agent_version   UInt32 COMMENT '1 for the registration, +1 per change to this agent',
    status          LowCardinality(String) COMMENT 'active, suspended or retired after the change',
    valid_from      DateTime64(6, 'UTC') COMMENT 'when the change took effect (the registry writer''s clock)',
    actor           String COMMENT 'who made the change',
    approver        String COMMENT 'who approved it (never the actor)',
    reason          String,
    definition      String CODEC(ZSTD(3)) COMMENT 'the agent''s full definition after the change, as JSON (bytes as hex; HMAC secrets only sealed)',
    key_ids         Array(String) COMMENT 'ids of the keys listed in the definition',
    prev_hash       String COMMENT 'hash of the entry at position - 1 (32 bytes)',
    hash            String COMMENT 'SHA-256(prev_hash || canonical bytes of the entry) (32 bytes)',
    signing_key_id  LowCardinality(String) COMMENT 'pipeline key that signed hash',
    signature       String COMMENT 'Ed25519 signature of the hash (64 bytes)',
    source_partition Int32 COMMENT 'partition of agent.registry the entry was read from (the registry has one: 0)',
    record          String CODEC(ZSTD(3)) COMMENT 'the RegistryChange''s Avro bytes exactly as consumed from agent.registry',
    stored_at       DateTime64(3, 'UTC') DEFAULT now64(3),

    INDEX idx_change_id change_id TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
ORDER BY (tenant_id, agent_id, position)
SETTINGS non_replicated_deduplication_window = 1000
COMMENT 'Every agent registry change with the resulting definition, actor and approver; append-only, kept without TTL.';
