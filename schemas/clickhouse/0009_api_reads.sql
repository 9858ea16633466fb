-- api_reads: every request the query API answered, refused ones included.
--
-- "Who looked at what, when" is audit data itself: every read of audit data
-- through the API is one row here, written before the answer is sent, with the
-- key, its role and tenant scope, the route, the filters as given, the rows
-- returned, and for a refusal the status and reason. Append-only; readable by
-- auditors and admins through GET /v1/reads.
CREATE TABLE IF NOT EXISTS ${database}.api_reads
(
    read_id      String COMMENT 'UUIDv7 of the request, also sent as the X-Request-Id response header',
    at           DateTime64(6, 'UTC') COMMENT 'when the request arrived (the API''s clock)',
    key_id       String COMMENT 'empty when no valid key was given',
    key_name     String,
    role         LowCardinality(String),
    tenants      Array(String) COMMENT 'the key''s tenant scope',
    method       LowCardinality(String),
    route        LowCardinality(String) COMMENT 'route template, e.g. /v1/actions/{event_id}/trace',
    path         String COMMENT 'the path as requested',
    query        String COMMENT 'query parameters and body fields as JSON (never a key or secret)',
    status       UInt16,
    rows         UInt32 COMMENT 'items returned',
    duration_ms  Float64,
    remote       String COMMENT 'client address',
    error        String COMMENT 'why the request was refused; empty when answered',
    stored_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (toDate(at), key_id, at)
TTL toDateTime(at) + INTERVAL 400 DAY
SETTINGS ttl_only_drop_parts = 1
COMMENT 'Access log of the query API: every request, answered or refused, append-only.';
