-- audit_rejections: every input the pipeline could not accept, with the reason
-- and the original bytes, so nothing is ever silently dropped (invariant 1).
-- Rows come from audit.rejected (the processor's Rejections) and from the sink
-- itself (reason_code 'sink_decode': a message on audit.records or
-- audit.rejected it could not decode, kept with its own topic/partition/offset).
--
-- Append-only, like audit_records: INSERT only, TTL by whole monthly parts.
--
-- Why this ORDER BY: rejections are investigated by time, by tenant when the
-- action decoded far enough to name one ('' otherwise, which then groups the
-- unattributable inputs together) and by reason ("show me today's
-- clock_skew rejections"): (tenant_id, day, reason_code, ingest_time) keeps
-- each of those a contiguous range. source_partition/source_offset make the
-- order total and match the order inputs were read in.
CREATE TABLE IF NOT EXISTS ${database}.audit_rejections
(
    reason_code       LowCardinality(String),
    reason            String,
    source_topic      LowCardinality(String),
    source_partition  Int32,
    source_offset     Int64,
    ingest_time       DateTime64(6, 'UTC') COMMENT 'broker log-append time of the input (the pipeline''s clock)',
    key               Nullable(String) COMMENT 'the input message key as it came; NULL when it had none',
    original          String CODEC(ZSTD(3)) COMMENT 'the input message value, byte for byte',
    agent_id          LowCardinality(String) DEFAULT '',
    tenant_id         LowCardinality(String) DEFAULT '',
    event_id          String DEFAULT '',
    record            String DEFAULT '' CODEC(ZSTD(3)) COMMENT 'the Rejection''s Avro bytes as consumed from audit.rejected; empty for sink_decode rows',
    stored_at         DateTime64(3, 'UTC') DEFAULT now64(3),

    INDEX idx_event_id  event_id  TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_agent_id  agent_id  TYPE bloom_filter(0.01)  GRANULARITY 1,

    PROJECTION source_high_water
    (
        SELECT source_topic, source_partition, max(source_offset)
        GROUP BY source_topic, source_partition
    )
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ingest_time)
ORDER BY (tenant_id, toDate(ingest_time), reason_code, ingest_time, source_partition, source_offset)
PRIMARY KEY (tenant_id, toDate(ingest_time), reason_code, ingest_time)
TTL toDateTime(ingest_time) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 1000, ttl_only_drop_parts = 1
COMMENT 'Every input the pipeline rejected, with reason and original bytes; append-only.';
