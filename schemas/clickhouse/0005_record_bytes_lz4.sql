-- audit_records.record, the stored Avro bytes every chain hash covers, moves
-- from ZSTD(3) to LZ4 for parts written from now on (older parts change codec
-- when ClickHouse next merges them; no row is rewritten or removed).
--
-- Why: `agentaudit verify` reads every record's bytes to hash them, and
-- decompressing ZSTD was a sixth of its CPU time. Measured on 1,000,000 demo
-- workload records (416 bytes on average, tests/perf/verify_bench.py):
--   ZSTD(3): stored in 38% of the raw size, read back in 0.54 CPU-s
--   LZ4:     stored in 44% of the raw size, read back in 0.19 CPU-s
--   LZ4HC(9): 40%, 0.21 CPU-s, but 6.6 s of CPU to compress the million on
--            insert (and again on every merge), on the sink's cores.
-- So the evidence column costs about a sixth more disk in exchange for
-- verification about a tenth faster end to end; the columns queries read keep
-- their codecs.
ALTER TABLE ${database}.audit_records
    MODIFY COLUMN record String CODEC(LZ4)
    COMMENT 'the AuditRecord''s Avro bytes exactly as consumed from audit.records';
