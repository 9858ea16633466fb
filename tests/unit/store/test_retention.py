"""Reading a table's TTL back from engine_full, and planning the changes to make."""

from __future__ import annotations

from agentaudit.store.retention import TableTTL, parse_ttl, plan

RECORDS = ("MergeTree PARTITION BY toYYYYMM(ingest_time) ORDER BY (tenant_id, ingest_time) "
           "TTL toDateTime(ingest_time) + toIntervalDay(400) SETTINGS ttl_only_drop_parts = 1, index_granularity = 8192")


def test_a_managed_ttl_is_read_with_its_column_and_days() -> None:
    assert parse_ttl("audit_records", RECORDS) == TableTTL(
        "audit_records", "toDateTime(ingest_time) + toIntervalDay(400)", "ingest_time", 400)


def test_a_table_without_ttl_has_none() -> None:
    ttl = parse_ttl("agent_registry", "MergeTree ORDER BY (tenant_id, agent_id, position) SETTINGS index_granularity = 8192")
    assert (ttl.expression, ttl.managed) == (None, False)


def test_a_ttl_of_another_form_is_reported_but_not_managed() -> None:
    ttl = parse_ttl("x", "MergeTree ORDER BY a TTL toDateTime(a) + toIntervalMonth(3) DELETE WHERE b = 1")
    assert ttl.expression == "toDateTime(a) + toIntervalMonth(3) DELETE WHERE b = 1"
    assert not ttl.managed


def test_only_managed_tables_whose_ttl_differs_are_changed() -> None:
    tables = [
        parse_ttl("audit_records", RECORDS),
        parse_ttl("audit_seals", RECORDS.replace("ingest_time", "until_time").replace("(400)", "(500)")),
        TableTTL("agent_registry", None),
        TableTTL("odd", "toDateTime(a) + toIntervalMonth(3)"),
    ]
    assert [(c.table, c.column, c.previous_days, c.days) for c in plan(tables, 400)] == [("audit_seals", "until_time", 500, 400)]
    assert [c.table for c in plan(tables, 730)] == ["audit_records", "audit_seals"]
