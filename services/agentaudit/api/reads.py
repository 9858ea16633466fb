"""The access log (api_reads, schemas/clickhouse/0009): every API request, answered or refused.

One row per request, written before the response leaves (a request whose row
cannot be written is answered 503, not served unrecorded): who (key, role,
tenant scope), what (route, path, parameters), when, how many items came back,
and for a refusal its status and reason. Parameters are stored as given, minus
anything secret (the key is in a header and never copied; request bodies are
reduced to the fields in RECORDED_BODY_FIELDS).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.query.build import window_conditions
from agentaudit.query.timeparse import from_micros, to_micros
from agentaudit.store.client import translate_errors

# Body fields worth keeping (what was asked for), never secrets or free text
# that could carry one.
RECORDED_BODY_FIELDS = ("name", "role", "tenants", "agent_id", "expires_at", "reason", "note", "owner")

READ_COLUMNS = ("read_id", "at", "key_id", "key_name", "role", "tenants", "method", "route", "path", "query",
                "status", "rows", "duration_ms", "remote", "error")


@dataclass
class Read:
    """One request as the access log keeps it."""

    read_id: str
    at_us: int
    method: str
    path: str
    remote: str
    route: str = ""
    query: dict[str, Any] = field(default_factory=dict)
    key_id: str = ""
    key_name: str = ""
    role: str = ""
    tenants: tuple[str, ...] = ()
    status: int = 0
    rows: int = 0
    duration_ms: float = 0.0
    error: str = ""

    def row(self) -> list[Any]:
        return [self.read_id, from_micros(self.at_us), self.key_id, self.key_name, self.role,
                list(self.tenants), self.method, self.route, self.path,
                json.dumps(self.query, sort_keys=True, default=str), self.status, self.rows, self.duration_ms,
                self.remote, self.error]


def record(client: Client, database: str, read: Read) -> None:
    with translate_errors("recording the request in the access log"):
        client.insert("api_reads", [read.row()], database=database, column_names=list(READ_COLUMNS))


def list_reads(client: Client, database: str, since: datetime, until: datetime, tenants: tuple[str, ...] | None,
               key_ids: tuple[str, ...] = (), routes: tuple[str, ...] = (), refused_only: bool = False,
               limit: int = 100) -> list[dict[str, Any]]:
    """Requests in [since, until), newest first; scoped to keys sharing a tenant with `tenants` (None: all)."""
    conditions = window_conditions("at")  # api_reads is sorted by (toDate(at), key_id, at)
    params: dict[str, Any] = {"database": database, "since_us": to_micros(since), "until_us": to_micros(until),
                              "limit": limit}
    if tenants is not None:
        # A tenant-scoped reader sees requests made with keys of its tenants only
        # (not those of '*' keys, whose reads span tenants it may not know of).
        conditions.append("hasAny(tenants, {tenants:Array(String)}) AND NOT has(tenants, '*')")
        params["tenants"] = list(tenants)
    if key_ids:
        conditions.append("key_id IN {key_ids:Array(String)}")
        params["key_ids"] = list(key_ids)
    if routes:
        conditions.append("route IN {routes:Array(String)}")
        params["routes"] = list(routes)
    if refused_only:
        conditions.append("status >= 400")
    sql = (f"SELECT {', '.join(READ_COLUMNS)} FROM {{database:Identifier}}.api_reads "
           f"WHERE {' AND '.join(conditions)} ORDER BY at DESC, read_id DESC LIMIT {{limit:UInt32}}")
    with translate_errors("reading the access log"):
        result = client.query(sql, parameters=params)
    rows = []
    for values in result.result_rows:
        row = dict(zip(READ_COLUMNS, values, strict=True))
        row["query"] = json.loads(row["query"]) if row["query"] else {}
        rows.append(row)
    return rows
