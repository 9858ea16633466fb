from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agentaudit.errors import ConfigError
from agentaudit.query.build import (
    Filters,
    record_counts_query,
    records_query,
    rejection_counts_query,
    rejections_query,
)

SINCE = datetime(2025, 3, 1, 11, tzinfo=UTC)
UNTIL = SINCE + timedelta(hours=1)


def test_time_window_is_on_ingest_time_and_bound() -> None:
    q = records_query("agentaudit", Filters(SINCE, UNTIL))
    assert "ingest_time >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')" in q.sql
    assert "ingest_time < fromUnixTimestamp64Micro({until_us:Int64}, 'UTC')" in q.sql
    assert "toDate(ingest_time) >= toDate(fromUnixTimestamp64Micro({since_us:Int64}, 'UTC'))" in q.sql
    assert "agent_time" not in q.sql
    assert q.parameters["since_us"] == 1_740_826_800_000_000
    assert q.parameters["until_us"] == 1_740_830_400_000_000
    assert "{database:Identifier}.audit_records" in q.sql and q.parameters["database"] == "agentaudit"
    assert q.sql.endswith("ORDER BY ingest_time DESC LIMIT {limit:UInt32}") and q.parameters["limit"] == 100


def test_filters_become_array_parameters() -> None:
    q = records_query("db", Filters(SINCE, UNTIL, {"agent": ("a1", "a2"), "outcome": ("denied",)}, limit=0))
    assert "agent_id IN {agent:Array(String)}" in q.sql and q.parameters["agent"] == ["a1", "a2"]
    assert "outcome IN {outcome:Array(String)}" in q.sql
    assert "LIMIT" not in q.sql and "limit" not in q.parameters


def test_injection_attempts_stay_in_parameters() -> None:
    evil = "x' OR 1=1) UNION ALL SELECT * FROM system.users --"
    evil_db = "agentaudit`; DROP DATABASE agentaudit; --"
    q = records_query(evil_db, Filters(SINCE, UNTIL, {"agent": (evil,), "tenant": (evil,), "principal": (evil,)}))
    for needle in ("OR 1=1", "UNION", "system.users", "DROP", "--", "'x"):
        assert needle not in q.sql
    assert q.parameters["agent"] == [evil] and q.parameters["database"] == evil_db


def test_unknown_filter_names_are_refused() -> None:
    with pytest.raises(ConfigError):
        records_query("db", Filters(SINCE, UNTIL, {"agent_id) OR (1": ("x",)}))
    with pytest.raises(ConfigError):
        rejections_query("db", Filters(SINCE, UNTIL, {"action": ("tool_call",)}))


def test_window_and_limit_are_checked() -> None:
    with pytest.raises(ConfigError):
        Filters(UNTIL, SINCE)
    with pytest.raises(ConfigError):
        Filters(SINCE, UNTIL, limit=-1)


def test_unbounded_window_and_oldest_first() -> None:
    q = rejections_query("db", Filters(None, None, {"reason": ("not_avro",)}, newest_first=False))
    assert "ingest_time >=" not in q.sql and "reason_code IN {reason:Array(String)}" in q.sql
    assert "ORDER BY ingest_time ASC" in q.sql


def test_count_queries() -> None:
    assert "GROUP BY action_type, outcome" in record_counts_query("db", Filters(SINCE, UNTIL)).sql
    assert "GROUP BY reason_code" in rejection_counts_query("db", Filters(SINCE, UNTIL)).sql
