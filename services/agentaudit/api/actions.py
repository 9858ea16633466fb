"""The actions list: filtered, tenant-scoped, keyset-paginated. Pure SQL building plus one runner.

Pages are cut by a keyset cursor on (ingest_time, event_id), the table's own
order within an agent's day, so page N costs what page 1 costs (OFFSET would
re-read every earlier page). The cursor is opaque to clients but not secret:
it only carries the last row's position and a digest of the filters it was
made for, and a cursor replayed with other filters is refused rather than
silently mixing two queries. It also carries the first page's window: a
window given as "-1h" or "now" moves between requests, and the pages of one
listing must all cut the same window. Tenant scope is a filter like the others, but it
is set from the key (agentaudit.api.access), never from the request.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.errors import ConfigError
from agentaudit.query.build import RECORD_FILTERS, Filters, where_clause
from agentaudit.query.timeparse import from_micros, to_micros
from agentaudit.store.client import translate_errors

ACTION_COLUMNS: tuple[str, ...] = (
    "event_id", "ingest_time", "tenant_id", "agent_id", "session_id", "sequence", "principal_type",
    "principal_id", "action_type", "tool", "resource", "outcome", "error_code", "policy_decision", "policy_id",
    "policy_version", "approver_id", "approval_decision", "model_provider", "model_name", "cost_micros",
    "risk_score", "chain_position",
)  # fmt: skip
MAX_PAGE = 1000


class BadCursor(ConfigError):
    """The cursor was not made by this API for this query."""


@dataclass(frozen=True)
class ActionQuery:
    """One page request: window, filters (tenant scope included), risk bounds and the cursor."""

    since: datetime
    until: datetime
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resource_prefix: str = ""
    risk_min: int | None = None
    risk_max: int | None = None
    limit: int = 100
    oldest_first: bool = False
    cursor: str = ""

    def digest(self) -> str:
        """What a cursor is bound to: the filters and order (the window travels in the cursor)."""
        shape = [sorted((k, sorted(v)) for k, v in self.values.items()), self.resource_prefix, self.risk_min,
                 self.risk_max, self.oldest_first]
        return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Cursor:
    ingest_us: int
    event_id: str
    since_us: int
    until_us: int


def encode_cursor(query: ActionQuery, ingest_us: int, event_id: str) -> str:
    doc = {"t": ingest_us, "e": event_id, "s": to_micros(query.since), "u": to_micros(query.until),
           "q": query.digest()}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).rstrip(b"=").decode()


def decode_cursor(query: ActionQuery) -> Cursor | None:
    if not query.cursor:
        return None
    try:
        doc = json.loads(base64.urlsafe_b64decode(query.cursor + "=" * (-len(query.cursor) % 4)))
        cursor = Cursor(int(doc["t"]), str(doc["e"]), int(doc["s"]), int(doc["u"]))
        digest = str(doc["q"])
    except (ValueError, KeyError, TypeError):
        raise BadCursor("cursor is not one this API returned; start again without it") from None
    if digest != query.digest():
        raise BadCursor("cursor belongs to a query with other filters; start again without it")
    return cursor


def resolve(query: ActionQuery) -> tuple[ActionQuery, Cursor | None]:
    """The query with the window its page cuts (the first page's, when it continues a listing), and its cursor."""
    cursor = decode_cursor(query)
    if cursor is None:
        return query, None
    return replace(query, since=from_micros(cursor.since_us), until=from_micros(cursor.until_us)), cursor


def page_sql(database: str, query: ActionQuery) -> tuple[str, dict[str, Any]]:
    """The SELECT for one page (limit + 1 rows: the extra one says whether a next page exists)."""
    return _page_sql(database, *resolve(query))


def _page_sql(database: str, query: ActionQuery, cursor: Cursor | None) -> tuple[str, dict[str, Any]]:
    if not 1 <= query.limit <= MAX_PAGE:
        raise ConfigError(f"limit must be between 1 and {MAX_PAGE}")
    for bound in (query.risk_min, query.risk_max):
        if bound is not None and not 0 <= bound <= 100:
            raise ConfigError("risk bounds are scores from 0 to 100")
    filters = Filters(query.since, query.until, query.values, limit=0)
    where, params = where_clause(filters, RECORD_FILTERS)
    conditions = [where.removeprefix(" WHERE ")] if where else []
    if query.resource_prefix:
        conditions.append("startsWith(resource, {resource_prefix:String})")
        params["resource_prefix"] = query.resource_prefix
    if query.risk_min is not None:
        conditions.append("risk_score >= {risk_min:Int32}")
        params["risk_min"] = query.risk_min
    if query.risk_max is not None:
        conditions.append("risk_score <= {risk_max:Int32}")
        params["risk_max"] = query.risk_max
    order = "ASC" if query.oldest_first else "DESC"
    if cursor is not None:
        compare = ">" if query.oldest_first else "<"
        conditions.append(f"(ingest_time, event_id) {compare} "
                          "(fromUnixTimestamp64Micro({cursor_us:Int64}, 'UTC'), {cursor_event:String})")
        params["cursor_us"], params["cursor_event"] = cursor.ingest_us, cursor.event_id
    columns = ", ".join(c if c != "ingest_time" else "toUnixTimestamp64Micro(ingest_time) AS ingest_us"
                        for c in ACTION_COLUMNS)
    sql = (f"SELECT {columns} FROM {{database:Identifier}}.audit_records WHERE {' AND '.join(conditions)} "
           f"ORDER BY ingest_time {order}, event_id {order} LIMIT {{limit:UInt32}}")
    params.update(database=database, limit=query.limit + 1)
    return sql, params


def page(client: Client, database: str, query: ActionQuery) -> tuple[list[dict[str, Any]], str | None, ActionQuery]:
    """(the page's rows, the cursor of the next page or None, the query with the window it cut)."""
    query, cursor = resolve(query)
    sql, params = _page_sql(database, query, cursor)
    with translate_errors("listing actions"):
        result = client.query(sql, parameters=params)
    rows = [dict(zip(ACTION_COLUMNS, values, strict=True)) for values in result.result_rows]
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    following = encode_cursor(query, int(rows[-1]["ingest_time"]), rows[-1]["event_id"]) if more else None
    return rows, following, query
