"""Incidents read from ClickHouse: the current state of each, and one incident's timeline.

audit_incidents holds every timeline entry (schemas/clickhouse/0006); the
state is computed here, never stored: status and owner from the newest
lifecycle entry, counts and severity from the newest detection entry. A
processor replay's identical entries are counted once (LIMIT 1 BY entry_id).
Every value reaches ClickHouse as a server-side parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.severity import SEVERITIES
from agentaudit.incident.lifecycle import STATUSES, Current, current_of
from agentaudit.query.timeparse import to_micros
from agentaudit.store.client import translate_errors

# The state's columns are named like the table's; without this setting an alias
# such as `max(changed_at) AS changed_at` would shadow the column in the other
# aggregates.
_SETTINGS = {"prefer_column_name_to_alias": 1}
_ENTRIES = "(SELECT * FROM {database:Identifier}.audit_incidents{where} LIMIT 1 BY entry_id)"
_ORDER = "(changed_at, version)"
_DETECTION = "change IN ('opened', 'hits')"

STATE_COLUMNS = (
    "incident_id", "tenant_id", "agent_id", "rule_id", "severity", "title", "status", "owner",
    "first_seen", "last_seen", "hit_count", "risk_score", "version", "changed_at",
)  # fmt: skip

_STATE = f"""
SELECT
    incident_id,
    any(tenant_id) AS tenant_id,
    any(agent_id) AS agent_id,
    any(rule_id) AS rule_id,
    argMaxIf(severity, {_ORDER}, {_DETECTION}) AS severity,
    argMaxIf(title, {_ORDER}, {_DETECTION}) AS title,
    if(countIf(change != 'hits') = 0, 'open', argMaxIf(status, {_ORDER}, change != 'hits')) AS status,
    argMaxIf(owner, {_ORDER}, owner != '') AS owner,
    toUnixTimestamp64Micro(min(first_seen)) AS first_seen,
    toUnixTimestamp64Micro(max(last_seen)) AS last_seen,
    max(hit_count) AS hit_count,
    max(risk_score) AS risk_score,
    max(version) AS version,
    toUnixTimestamp64Micro(max(changed_at)) AS changed_at
FROM {_ENTRIES}
GROUP BY incident_id
"""

TIMELINE_COLUMNS = (
    "changed_at", "version", "change", "status", "actor", "owner", "hit_count", "risk_score", "note", "detail",
)


@dataclass(frozen=True)
class IncidentFilter:
    """Incidents with any entry in [since, until), narrowed by tenant, agent, status and minimum severity."""

    since: datetime
    until: datetime
    tenants: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    min_severity: str | None = None
    limit: int = 100


def list_incidents(client: Client, database: str, f: IncidentFilter) -> list[Current]:
    """Current state of the matching incidents, the most recently changed first."""
    conditions = ["changed_at >= fromUnixTimestamp64Micro({since_us:Int64}, 'UTC')",
                  "changed_at < fromUnixTimestamp64Micro({until_us:Int64}, 'UTC')"]
    params: dict[str, Any] = {"database": database, "since_us": to_micros(f.since), "until_us": to_micros(f.until)}
    if f.tenants:
        conditions.append("tenant_id IN {tenants:Array(String)}")
        params["tenants"] = list(f.tenants)
    if f.agents:
        conditions.append("agent_id IN {agents:Array(String)}")
        params["agents"] = list(f.agents)
    # The window picks incidents; their state adds up all of their entries.
    ids = f"SELECT DISTINCT incident_id FROM {{database:Identifier}}.audit_incidents WHERE {' AND '.join(conditions)}"
    having: list[str] = []
    if f.statuses:
        unknown = set(f.statuses) - set(STATUSES)
        if unknown:
            raise ValueError(f"unknown status {sorted(unknown)}; statuses: {', '.join(STATUSES)}")
        having.append("status IN {statuses:Array(String)}")
        params["statuses"] = list(f.statuses)
    if f.min_severity is not None:
        having.append("indexOf({severities:Array(String)}, severity) >= {min_rank:UInt8}")
        params["severities"] = list(SEVERITIES)
        params["min_rank"] = SEVERITIES.index(f.min_severity) + 1
    sql = "SELECT * FROM (" + _STATE.replace("{where}", f" WHERE incident_id IN ({ids})") + ")"
    if having:
        sql += " WHERE " + " AND ".join(having)
    sql += " ORDER BY changed_at DESC, incident_id"
    if f.limit:
        sql += " LIMIT {limit:UInt32}"
        params["limit"] = f.limit
    with translate_errors("listing incidents"):
        result = client.query(sql, parameters=params, settings=_SETTINGS)
    return [current_of(dict(zip(STATE_COLUMNS, row, strict=True))) for row in result.result_rows]


def incident_state(client: Client, database: str, incident_id: str) -> Current | None:
    sql = _STATE.replace("{where}", " WHERE incident_id = {incident_id:String}")
    with translate_errors("reading the incident"):
        result = client.query(sql, parameters={"database": database, "incident_id": incident_id}, settings=_SETTINGS)
    rows = result.result_rows
    return current_of(dict(zip(STATE_COLUMNS, rows[0], strict=True))) if rows else None


def timeline(client: Client, database: str, incident_id: str) -> list[dict[str, Any]]:
    """Every entry of one incident, oldest first."""
    sql = (
        f"SELECT toUnixTimestamp64Micro(changed_at), version, change, status, actor, owner, hit_count, "
        f"risk_score, note, detail FROM {_ENTRIES.replace('{where}', ' WHERE incident_id = {incident_id:String}')} "
        f"ORDER BY changed_at, version"
    )
    with translate_errors("reading the incident's timeline"):
        result = client.query(sql, parameters={"database": database, "incident_id": incident_id})
    return [dict(zip(TIMELINE_COLUMNS, row, strict=True)) for row in result.result_rows]
