-- audit_records.subject_ids: the data subjects a record is about, as the
-- keyed hashes the privacy policy stores (AuditRecord.redaction.subject_ref,
-- HMAC-SHA256 under the tenant's pepper, 32 hex digits), so that
-- `agentaudit dsar find --subject S` finds a subject's records by an index
-- instead of decrypting every record. Never the subject's id itself.
--
-- Derived by the sink from the record's bytes like every other column, so
-- `agentaudit verify --columns` checks it too. Rows stored before this
-- migration read as [] (they were not redacted). Additive only: no row is
-- rewritten (invariant 5); the bloom filter index covers parts written from
-- now on and older parts as ClickHouse merges them.
ALTER TABLE ${database}.audit_records
    ADD COLUMN IF NOT EXISTS subject_ids Array(String) DEFAULT [] AFTER record;

ALTER TABLE ${database}.audit_records
    ADD INDEX IF NOT EXISTS subject_ids_bloom subject_ids TYPE bloom_filter(0.01) GRANULARITY 4;
