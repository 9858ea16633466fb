-- audit_incidents: one row per Incident timeline entry consumed from
-- audit.incidents (schemas/avro/Incident.v2). An incident is the list of its
-- entries: 'opened' and 'hits' from the detection stage (actor 'pipeline'),
-- 'acknowledged', 'contained' and 'resolved' from people, each with its
-- actor. Nothing is updated: the current state is computed when read (status
-- and owner of the newest lifecycle entry, counts of the newest hits entry),
-- so the timeline an auditor sees is every change as it was made (CC7.3).
--
-- entry_id is SHA-256 of the entry's Avro body: a processor replay after a
-- crash writes byte-identical entries, which readers count once
-- (LIMIT 1 BY entry_id); the sink drops its own replays by Kafka position.
-- Append-only like every audit table (invariant 5); rows leave only by TTL.
CREATE TABLE IF NOT EXISTS ${database}.audit_incidents
(
    incident_id      String,
    entry_id         FixedString(32) COMMENT 'SHA-256 of the entry''s Avro body',
    version          Int64,
    change           LowCardinality(String) COMMENT 'opened, hits, acknowledged, contained or resolved',
    status           LowCardinality(String) COMMENT 'lifecycle state this entry leaves the incident in',
    tenant_id        LowCardinality(String),
    agent_id         LowCardinality(String),
    rule_id          LowCardinality(String),
    severity         LowCardinality(String),
    title            String,
    first_seen       DateTime64(6, 'UTC'),
    last_seen        DateTime64(6, 'UTC'),
    changed_at       DateTime64(6, 'UTC') COMMENT 'ingest time of the hit, or the writer''s clock for lifecycle entries',
    hit_count        Int64,
    event_ids        Array(String),
    actor            String COMMENT 'pipeline, or the identity of whoever changed the lifecycle',
    owner            String,
    note             String,
    risk_score       UInt8,
    contain          Bool COMMENT 'the pipeline suspended the agent for this incident (CC7.4)',
    detail           String COMMENT 'JSON context for on-call: rule, reason, action coordinates; never parameters',
    kafka_topic      LowCardinality(String) COMMENT 'where the sink read this entry: its replay de-duplication key',
    kafka_partition  Int32,
    kafka_offset     Int64,
    entry            String CODEC(ZSTD(3)) COMMENT 'the Incident''s Avro bytes exactly as consumed',
    stored_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(changed_at)
ORDER BY (tenant_id, incident_id, changed_at, version)
TTL toDateTime(changed_at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
COMMENT 'Incident timelines, one row per entry, append-only.';
