-- retention_changes: one row per change `agentaudit db migrate` makes to an
-- audit table's TTL, so how long records were kept, and who shortened it, is
-- itself on record (SOC 2: "how long do you keep it?").
--
-- The TTLs live in each table's definition (0001, 0002, 0003, 0006, 0007 set
-- 400 days); AGENTAUDIT_RETENTION_DAYS changes them with ALTER TABLE ... MODIFY
-- TTL, run by the admin account only (deploy/clickhouse/users.d). A retention
-- below the 365-day floor is refused unless forced (AGENTAUDIT_RETENTION_FORCE),
-- and a forced change is flagged here. The row is written before the ALTER: a
-- change recorded but not made shows as a repeated row on the next run, while
-- a change made but never recorded cannot happen.
--
-- Append-only and without TTL: the record of a retention policy must outlive
-- the data it removed. A few rows per year.
CREATE TABLE IF NOT EXISTS ${database}.retention_changes
(
    changed_at          DateTime64(3, 'UTC') DEFAULT now64(3),
    table_name          LowCardinality(String),
    time_column         LowCardinality(String) COMMENT 'the column the TTL counts from (the pipeline''s clock)',
    previous_days       UInt32,
    days                UInt32,
    forced              Bool COMMENT 'shorter than the 365-day floor, accepted because AGENTAUDIT_RETENTION_FORCE was set',
    db_user             String DEFAULT currentUser() COMMENT 'the ClickHouse account that made the change',
    os_user             String COMMENT 'who ran agentaudit db migrate, as the operating system says',
    host                String,
    agentaudit_version  String
)
ENGINE = MergeTree
ORDER BY (changed_at, table_name)
COMMENT 'Every change of an audit table''s retention (TTL) made by agentaudit db migrate; append-only, kept without TTL.';
