"""Builds audit queries as SQL text plus server-side parameters. Pure, no I/O.

Every value, the database name included, reaches ClickHouse as a `{name:Type}`
parameter; the SQL text is assembled only from fixed fragments chosen by which
filters are present, so no input can change the statement's shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentaudit.errors import ConfigError
from agentaudit.query.timeparse import to_micros

# Columns shown by default, newest first; the table output is built for a
# terminal, --json/--csv carry the same columns.
RECORD_COLUMNS: tuple[str, ...] = (
    "ingest_time", "tenant_id", "agent_id", "principal_type", "principal_id", "action_type",
    "tool", "resource", "outcome", "policy_decision", "risk_score", "event_id",
)  # fmt: skip
REJECTION_COLUMNS: tuple[str, ...] = (
    "ingest_time", "reason_code", "tenant_id", "agent_id", "event_id",
    "source_topic", "source_partition", "source_offset", "reason",
)  # fmt: skip

# filter name -> (column, parameter type); multiple values mean "any of".
RECORD_FILTERS: dict[str, str] = {
    "tenant": "tenant_id",
    "agent": "agent_id",
    "principal": "principal_id",
    "action": "action_type",
    "outcome": "outcome",
    "tool": "tool",
    "resource": "resource",
    "decision": "policy_decision",
    "session": "session_id",
}
REJECTION_FILTERS: dict[str, str] = {"tenant": "tenant_id", "agent": "agent_id", "reason": "reason_code"}

MAX_LIMIT = 1_000_000


@dataclass(frozen=True)
class Filters:
    """A time window on ingest_time, [since, until), and optional equality filters."""

    since: datetime | None
    until: datetime | None
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    limit: int = 100
    newest_first: bool = True

    def __post_init__(self) -> None:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ConfigError(f"--since ({self.since.isoformat()}) must be before --until ({self.until.isoformat()})")
        if not 0 <= self.limit <= MAX_LIMIT:
            raise ConfigError(f"--limit must be between 0 (no limit) and {MAX_LIMIT}")


@dataclass(frozen=True)
class Query:
    sql: str
    parameters: dict[str, Any]
    columns: tuple[str, ...] = ()


def window_conditions(column: str, since: bool = True, until: bool = True) -> list[str]:
    """`column` in [{since_us}, {until_us}), with the day bounds of a table sorted by toDate(column).

    The day conditions are implied by the time ones, but ClickHouse does not
    derive them for a sort key's toDate(column) by itself: stating them lets
    the primary index skip to the window's days within a tenant (a tenant-hour
    query on 5M rows read 2 granules instead of 153). `column` is always one of
    the callers' fixed names, never input.
    """
    conditions = []
    if since:
        conditions += [f"{column} >= fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC')",
                       f"toDate({column}) >= toDate(fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC'))"]
    if until:
        conditions += [f"{column} < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')",
                       f"toDate({column}) <= toDate(fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC'))"]
    return conditions


def where_clause(filters: Filters, allowed: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """` WHERE …` (or '') and its parameters, for the time window and filters."""
    conditions: list[str] = []
    params: dict[str, Any] = {}
    if filters.since is not None:
        conditions += window_conditions("ingest_time", until=False)
        params["since_us"] = to_micros(filters.since)
    if filters.until is not None:
        conditions += window_conditions("ingest_time", since=False)
        params["until_us"] = to_micros(filters.until)
    for name, values in sorted(filters.values.items()):
        if not values:
            continue
        if name not in allowed:
            raise ConfigError(f"cannot filter on {name!r} here; filters: {', '.join(sorted(allowed))}")
        # `name` comes from the fixed table above, never from input, so it may
        # name the parameter; the values travel only as the parameter.
        conditions.append(f"{allowed[name]} IN {{{name}:Array(String)}}")
        params[name] = list(values)
    return (" WHERE " + " AND ".join(conditions)) if conditions else "", params


def _select(table: str, columns: tuple[str, ...], filters: Filters, allowed: dict[str, str], database: str) -> Query:
    where, params = where_clause(filters, allowed)
    order = "DESC" if filters.newest_first else "ASC"
    sql = f"SELECT {', '.join(columns)} FROM {{database:Identifier}}.{table}{where} ORDER BY ingest_time {order}"
    if filters.limit:
        sql += " LIMIT {limit:UInt32}"
        params["limit"] = filters.limit
    params["database"] = database
    return Query(sql, params, columns)


def records_query(database: str, filters: Filters, columns: tuple[str, ...] = RECORD_COLUMNS) -> Query:
    return _select("audit_records", columns, filters, RECORD_FILTERS, database)


def rejections_query(database: str, filters: Filters, columns: tuple[str, ...] = REJECTION_COLUMNS) -> Query:
    return _select("audit_rejections", columns, filters, REJECTION_FILTERS, database)


def record_counts_query(database: str, filters: Filters) -> Query:
    """Accepted actions in the window by action type and outcome."""
    where, params = where_clause(filters, RECORD_FILTERS)
    params["database"] = database
    sql = (
        "SELECT action_type, outcome, count() AS n FROM {database:Identifier}.audit_records"
        f"{where} GROUP BY action_type, outcome ORDER BY action_type, outcome"
    )
    return Query(sql, params, ("action_type", "outcome", "n"))


def rejection_counts_query(database: str, filters: Filters) -> Query:
    """Rejections in the window by reason code."""
    where, params = where_clause(filters, REJECTION_FILTERS)
    params["database"] = database
    sql = (
        "SELECT reason_code, count() AS n FROM {database:Identifier}.audit_rejections"
        f"{where} GROUP BY reason_code ORDER BY n DESC, reason_code"
    )
    return Query(sql, params, ("reason_code", "n"))


SESSION_COLUMNS = (
    "tenant_id", "agent_id", "session_id", "first_seen", "last_seen",
    "first_sequence", "last_sequence", "expected", "actual", "missing", "duplicates",
)


def sessions_query(database: str, filters: Filters) -> Query:
    """Completeness per agent session in the window: expected actions (from the
    sequence numbers the agent gave) against those stored, incomplete ones first.

    expected counts last - first + 1 of the sequences seen in the window, so a
    session that began before the window is judged from its first action in it.
    duplicates should always be 0: the processor rejects a repeated sequence.
    """
    where, params = where_clause(filters, RECORD_FILTERS)
    params["database"] = database
    limit = f" LIMIT {int(filters.limit)}" if filters.limit else ""
    sql = (
        "SELECT tenant_id, agent_id, session_id, min(ingest_time) AS first_seen, max(ingest_time) AS last_seen, "
        "min(sequence) AS first_sequence, max(sequence) AS last_sequence, "
        "last_sequence - first_sequence + 1 AS expected, uniqExact(sequence) AS actual, "
        "expected - actual AS missing, count() - actual AS duplicates "
        f"FROM {{database:Identifier}}.audit_records{where} "
        f"GROUP BY tenant_id, agent_id, session_id ORDER BY missing + duplicates DESC, last_seen DESC{limit}"
    )
    return Query(sql, params, SESSION_COLUMNS)
