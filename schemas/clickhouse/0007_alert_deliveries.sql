-- alert_deliveries: one row per AlertDelivery consumed from audit.alerts
-- (schemas/avro/AlertDelivery.v1): every attempt of the alerter to tell
-- on-call about an incident timeline entry through one route, with its
-- outcome. Answers "was on-call told, when, through what, and how often did
-- it fail first?" (CC7.3) next to the incident's timeline in audit_incidents.
--
-- Append-only like every audit table (invariant 5); rows leave only by TTL.
-- The sink drops its own replays by the Kafka position it read each row at.
CREATE TABLE IF NOT EXISTS ${database}.alert_deliveries
(
    incident_id      String,
    version          Int64 COMMENT 'the incident timeline entry the alert was made from',
    change           LowCardinality(String),
    tenant_id        LowCardinality(String),
    severity         LowCardinality(String),
    route            LowCardinality(String),
    kind             LowCardinality(String) COMMENT 'webhook, slack, pagerduty or alertmanager',
    dedup_key        String,
    attempt          Int32,
    status           LowCardinality(String) COMMENT 'delivered, retrying or failed',
    http_status      Nullable(Int32),
    error            String COMMENT 'short reason, secrets removed; empty when delivered',
    retry_in_ms      Nullable(Int64),
    at               DateTime64(6, 'UTC'),
    latency_ms       Int64,
    source_topic     LowCardinality(String) COMMENT 'the incident entry in audit.incidents',
    source_partition Int32,
    source_offset    Int64,
    kafka_topic      LowCardinality(String) COMMENT 'where the sink read this row: its replay de-duplication key',
    kafka_partition  Int32,
    kafka_offset     Int64,
    stored_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (tenant_id, incident_id, at)
TTL toDateTime(at) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
COMMENT 'Alert delivery attempts, append-only.';
