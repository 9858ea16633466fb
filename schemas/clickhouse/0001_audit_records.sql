-- audit_records: one row per AuditRecord consumed from audit.records, the
-- action's fields flattened for queries beside the record's exact Avro bytes.
--
-- Append-only: the pipeline only INSERTs here (invariant 5). Rows leave only by
-- TTL, a whole monthly part at a time (ttl_only_drop_parts), never by UPDATE,
-- DELETE or a mutation that rewrites a part.
--
-- Why this ORDER BY: every audit query is bounded by ingest time and scoped by
-- tenant, and most by agent as well ("what did agent X do yesterday").
--   tenant_id first         -> a tenant's rows are one contiguous range.
--   toDate(ingest_time)     -> a tenant-wide "last hour" query reads one day's
--                              range of the tenant, not the tenant's whole month.
--   agent_id                -> an agent's day is contiguous inside that day.
--   ingest_time, event_id   -> time order inside an agent's day (reads of a
--                              time range stop early) and a total order.
-- The primary index keeps only the first four columns: event_id adds nothing
-- to range pruning and would only grow the index held in memory.
-- Month partitions (by ingest time, the pipeline's clock, never agent_time)
-- prune whole months before the index is even read.
CREATE TABLE IF NOT EXISTS ${database}.audit_records
(
    -- the action, exactly as the agent emitted it (AgentAction), flattened
    event_id               String,
    agent_id               LowCardinality(String),
    session_id             String,
    sequence               Int64,
    tenant_id              LowCardinality(String),
    principal_type         LowCardinality(String),
    principal_id           String,
    action_type            LowCardinality(String),
    tool                   LowCardinality(String) DEFAULT '',
    resource               String DEFAULT '',
    parameters             String DEFAULT '' CODEC(ZSTD(1)),
    outcome                LowCardinality(String),
    error_code             LowCardinality(String) DEFAULT '',
    error_message          String DEFAULT '',
    policy_decision        LowCardinality(String) DEFAULT '',
    policy_id              LowCardinality(String) DEFAULT '',
    policy_version         LowCardinality(String) DEFAULT '',
    policy_reason          String DEFAULT '',
    approver_type          LowCardinality(String) DEFAULT '',
    approver_id            String DEFAULT '',
    approval_decision      LowCardinality(String) DEFAULT '',
    approval_decided_at    Nullable(DateTime64(6, 'UTC')),
    approval_id            String DEFAULT '',
    model_provider         LowCardinality(String) DEFAULT '',
    model_name             LowCardinality(String) DEFAULT '',
    model_version          LowCardinality(String) DEFAULT '',
    input_tokens           Int64 DEFAULT 0,
    output_tokens          Int64 DEFAULT 0,
    cost_micros            Int64 DEFAULT 0,
    currency               LowCardinality(String) DEFAULT '',
    agent_time             DateTime64(6, 'UTC') COMMENT 'the agent''s own clock: kept and compared, never used as audit time',
    correlation_id         String DEFAULT '',
    parent_event_id        String DEFAULT '',
    attributes             Map(LowCardinality(String), String),
    key_id                 LowCardinality(String) DEFAULT '',
    signature              String DEFAULT '',
    -- what the pipeline added (AuditRecord)
    ingest_time            DateTime64(6, 'UTC') COMMENT 'authoritative audit time: broker log-append time of the input',
    source_topic           LowCardinality(String),
    source_partition       Int32,
    source_offset          Int64,
    clock_skew_ms          Int64,
    chain_position         Int64 DEFAULT 0 COMMENT '0 until the chain stage links the record; positions start at 1',
    chain_prev_hash        String DEFAULT '',
    chain_hash             String DEFAULT '',
    risk_score             Nullable(Int32) COMMENT 'NULL until scored',
    rule_hits              Array(Tuple(rule_id String, severity LowCardinality(String), reason String)),
    record                 String CODEC(ZSTD(3)) COMMENT 'the AuditRecord''s Avro bytes exactly as consumed from audit.records',
    stored_at              DateTime64(3, 'UTC') DEFAULT now64(3) COMMENT 'when the sink inserted the row (latency measurements only)',

    INDEX idx_event_id       event_id       TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_principal_id   principal_id   TYPE bloom_filter(0.01)  GRANULARITY 1,
    INDEX idx_session_id     session_id     TYPE bloom_filter(0.01)  GRANULARITY 1,
    INDEX idx_correlation_id correlation_id TYPE bloom_filter(0.01)  GRANULARITY 1,
    INDEX idx_action_type    action_type    TYPE set(16)             GRANULARITY 4,
    INDEX idx_outcome        outcome        TYPE set(8)              GRANULARITY 4,
    INDEX idx_risk_score     risk_score     TYPE minmax              GRANULARITY 4,

    -- The sink reads max(source_offset) per source partition when it is
    -- assigned partitions, to drop records a restarted processor emits again;
    -- this aggregate projection answers that from a few rows per part instead
    -- of a scan of the whole table.
    PROJECTION source_high_water
    (
        SELECT source_topic, source_partition, max(source_offset)
        GROUP BY source_topic, source_partition
    )
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ingest_time)
ORDER BY (tenant_id, toDate(ingest_time), agent_id, ingest_time, event_id)
PRIMARY KEY (tenant_id, toDate(ingest_time), agent_id, ingest_time)
-- Retention: at least 365 days (the SOC 2 audit period), plus a margin for the
-- audit itself to run; whole monthly parts are dropped, rows never rewritten.
TTL toDateTime(ingest_time) + INTERVAL 400 DAY
SETTINGS
    -- insert_deduplication_token works on a non-replicated table only with a
    -- window: the sink retries a batch with the same token and the copy is dropped.
    non_replicated_deduplication_window = 1000,
    ttl_only_drop_parts = 1
COMMENT 'One row per accepted agent action (AuditRecord), append-only; ordered for tenant- and agent-scoped time-range queries.';
