-- audit_seals: one row per Seal consumed from audit.seals (schemas/avro/Seal.v1,
-- schemas/chain.md). A seal signs a stretch of one agent's chain: positions
-- first..last, their Merkle root, the head hash, the time span, and the link
-- to the agent's previous seal. `agentaudit verify` recomputes all of it from
-- audit_records and checks the signatures with the pipeline's public keys.
--
-- Append-only like audit_records (invariant 5); rows leave only by TTL.
-- ORDER BY: verification reads one agent's seals in seq order.
CREATE TABLE IF NOT EXISTS ${database}.audit_seals
(
    agent_id          LowCardinality(String),
    tenant_id         LowCardinality(String),
    seq               Int64 COMMENT 'number of the seal in its agent''s chain of seals, from 1',
    reason            LowCardinality(String) COMMENT 'count or time',
    first_position    Int64,
    last_position     Int64 COMMENT 'first_position - 1 when the seal covers no records',
    head_hash         String,
    merkle_root       String,
    from_time         DateTime64(6, 'UTC'),
    until_time        DateTime64(6, 'UTC'),
    prev_seal_hash    String,
    seal_hash         String COMMENT 'SHA-256 of the seal''s content as computed by the sink; verify recomputes it',
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    key_id            LowCardinality(String),
    signature         String,
    seal              String CODEC(ZSTD(3)) COMMENT 'the Seal''s Avro bytes exactly as consumed from audit.seals',
    stored_at         DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(until_time)
ORDER BY (tenant_id, agent_id, seq)
TTL toDateTime(until_time) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
COMMENT 'Signed seals over each agent''s hash chain, append-only.';
