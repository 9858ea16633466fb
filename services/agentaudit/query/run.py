"""Runs built queries against ClickHouse and shapes the results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.query.build import (
    RECORD_FILTERS,
    REJECTION_FILTERS,
    Filters,
    Query,
    record_counts_query,
    rejection_counts_query,
)
from agentaudit.settings import Settings
from agentaudit.store.client import translate_errors


def _normalize(value: Any) -> Any:
    # chDB hands DateTime64('UTC') back as naive datetimes in UTC, a server as
    # aware ones; the output is the same either way.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def run_query(client: Client, query: Query) -> list[dict[str, Any]]:
    """Rows of `query` as dicts keyed by column name."""
    with translate_errors("running the audit query"):
        result = client.query(query.sql, parameters=query.parameters)
    names = query.columns or tuple(result.column_names)
    return [{n: _normalize(v) for n, v in zip(names, row, strict=True)} for row in result.result_rows]


def summary(
    client: Client,
    settings: Settings,
    since: datetime | None = None,
    until: datetime | None = None,
    **values: tuple[str, ...],
) -> dict[str, Any]:
    """What landed in [since, until) by ingest time (None: unbounded).

    Returns {"recorded": N, "rejected": M, "by_outcome": {...},
    "by_action": {...}, "rejected_by_reason": {...}, "since", "until"}; the
    filters (tuples of values by name) apply where the table has them:
    tenant and agent to both, principal/action/outcome to records, reason to
    rejections.
    """
    database = settings.clickhouse_database
    filters = Filters(since, until, {k: v for k, v in values.items() if k in RECORD_FILTERS}, limit=0)
    by_outcome: dict[str, int] = {}
    by_action: dict[str, int] = {}
    for row in run_query(client, record_counts_query(database, filters)):
        by_action[row["action_type"]] = by_action.get(row["action_type"], 0) + int(row["n"])
        by_outcome[row["outcome"]] = by_outcome.get(row["outcome"], 0) + int(row["n"])
    rejection_filters = Filters(since, until, {k: v for k, v in values.items() if k in REJECTION_FILTERS}, limit=0)
    by_reason = {
        str(row["reason_code"]): int(row["n"])
        for row in run_query(client, rejection_counts_query(database, rejection_filters))
    }
    return {
        "since": since,
        "until": until,
        "recorded": sum(by_action.values()),
        "rejected": sum(by_reason.values()),
        "by_outcome": dict(sorted(by_outcome.items())),
        "by_action": dict(sorted(by_action.items())),
        "rejected_by_reason": by_reason,
    }
