"""Retention, verification, completeness and API access: is the record kept, unaltered, complete, and who read it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.keyring import verify_signature
from agentaudit.query.build import Filters, sessions_query
from agentaudit.query.run import summary
from agentaudit.report.scope import RECORDS, RECORDS_WHERE, ReportScope, iso, iso_dt, rows, window
from agentaudit.settings import RETENTION_FLOOR_DAYS, Settings
from agentaudit.store.retention import retention_history, retention_status
from agentaudit.verify.checks import Finding
from agentaudit.verify.run import verify_store

FINDINGS_LIMIT = 100
INCOMPLETE_SESSIONS_LIMIT = 25


def retention(client: Client, settings: Settings, scope: ReportScope) -> dict[str, Any]:
    tables = []
    for status in retention_status(client, scope.database):
        tables.append({
            "table": status.ttl.table, "ttl_days": status.ttl.days, "ttl_column": status.ttl.column,
            "ttl": status.ttl.expression, "rows": status.rows,
            "oldest": iso_dt(status.oldest),
            "meets_floor": status.meets_floor,
        })
    changes = [{"changed_at": iso_dt(e.changed_at), "table": e.table, "previous_days": e.previous_days,
                "days": e.days, "forced": e.forced, "db_user": e.db_user, "os_user": e.os_user, "host": e.host}
               for e in retention_history(client, scope.database)]
    return retention_summary(tables, changes, settings.retention_days)


def retention_summary(tables: list[dict[str, Any]], changes: list[dict[str, Any]], days: int) -> dict[str, Any]:
    """Pure: the retention section. A table without TTL (meets_floor None) is kept forever, which meets it."""
    return {
        "floor_days": RETENTION_FLOOR_DAYS,
        "configured_days": days,
        "tables": tables,
        "all_meet_floor": all(t["meets_floor"] is not False for t in tables),
        "changes": changes,
        "forced_changes": sum(1 for c in changes if c["forced"]),
    }


def window_agents(client: Client, scope: ReportScope) -> list[str]:
    return [str(r[0]) for r in rows(client, (
        f"SELECT DISTINCT agent_id FROM {RECORDS} WHERE {RECORDS_WHERE} AND chain_position > 0 ORDER BY agent_id"
    ), scope.params(), "listing the window's agents")]


def verification(client: Client, settings: Settings, scope: ReportScope, agents: list[str],
                 public_keys: Mapping[str, bytes], now_us: int) -> dict[str, Any]:
    """verify_store over the chains of the window's agents: what `agentaudit verify --agent … --since --until` says."""
    if not agents:
        return {"ok": None, "agents": 0, "records": 0, "seals": 0, "findings": [],
                "note": "no chained records in the window: nothing to verify"}
    # What verify itself assumes: data older than the retention may have expired, younger data may not.
    cutoff = datetime.fromtimestamp(now_us / 1e6, UTC) - timedelta(days=settings.retention_days)
    report = verify_store(client, scope.database, agents, scope.since, scope.sealed_by, public_keys, verify_signature,
                          int(settings.seal_interval_s * 1e6), cutoff=cutoff)
    result = report.as_dict()
    result["findings"] = [_finding(f) for f in report.findings[:FINDINGS_LIMIT]]
    result["findings_total"] = len(report.findings)
    result["verified_agents"] = agents
    result["sealed_by"] = iso_dt(scope.sealed_by)
    return result


def _finding(finding: Finding) -> dict[str, Any]:
    return {"kind": finding.kind, "agent_id": finding.agent_id, "position": finding.position,
            "event_id": finding.event_id, "seal_seq": finding.seal_seq, "detail": finding.detail}


def completeness(client: Client, settings: Settings, scope: ReportScope) -> dict[str, Any]:
    """Accepted against rejected inputs, sessions whose sequence numbers have holes, and records under a seal."""
    landed = summary(client, settings.with_changes(clickhouse_database=scope.database), scope.since, scope.until,
                     tenant=scope.tenants)
    query = sessions_query(scope.database, Filters(scope.since, scope.until, {"tenant": scope.tenants}, limit=0))
    sessions = rows(client, (
        "SELECT count(), countIf(missing > 0), sum(missing), sum(duplicates) FROM (" + query.sql + ")"
    ), query.parameters, "checking session completeness")[0]
    worst = sessions_query(scope.database, Filters(scope.since, scope.until, {"tenant": scope.tenants},
                                                   limit=INCOMPLETE_SESSIONS_LIMIT))
    incomplete = [dict(zip(worst.columns, r, strict=True))
                  for r in rows(client, worst.sql, worst.parameters, "listing incomplete sessions")]
    sealed = rows(client, (
        "SELECT count(), countIf(r.chain_position > 0 AND r.chain_position <= s.sealed) "
        f"FROM (SELECT agent_id, chain_position FROM {RECORDS} WHERE {RECORDS_WHERE}) AS r "
        "LEFT JOIN (SELECT agent_id, max(last_position) AS sealed FROM {database:Identifier}.audit_seals "
        "GROUP BY agent_id) AS s ON r.agent_id = s.agent_id"
    ), scope.params(), "measuring seal coverage")[0]
    return {
        "accepted": landed["recorded"],
        "rejected": landed["rejected"],
        "rejected_by_reason": landed["rejected_by_reason"],
        "sessions": int(sessions[0]),
        "incomplete_sessions": int(sessions[1]),
        "missing_actions": int(sessions[2]),
        "duplicate_actions": int(sessions[3]),
        "worst_sessions": [{**s, "first_seen": iso_dt(s["first_seen"]), "last_seen": iso_dt(s["last_seen"]),
                            "missing": int(s["missing"]), "duplicates": int(s["duplicates"])}
                           for s in incomplete if s["missing"] or s["duplicates"]],
        "records_sealed": int(sealed[1]),
        "seal_coverage": round(int(sealed[1]) / int(sealed[0]), 6) if sealed[0] else None,
    }


def api_access(client: Client, scope: ReportScope) -> list[dict[str, Any]]:
    """Who read audit data through the query API in the window (api_reads), by key."""
    names = ("key_id", "key_name", "role", "requests", "refused", "items", "first", "last")
    found = rows(client, (
        "SELECT key_id, any(key_name), any(role), count(), countIf(status >= 400), sum(rows), "
        "toUnixTimestamp64Micro(min(at)), toUnixTimestamp64Micro(max(at)) FROM {database:Identifier}.api_reads "
        f"WHERE {window('at')} AND ({{tenants:Array(String)}} = [] OR has(tenants, '*') "
        "OR hasAny(tenants, {tenants:Array(String)})) GROUP BY key_id ORDER BY count() DESC, key_id LIMIT 100"
    ), scope.params(), "summarising API reads")
    out = []
    for values in found:
        line = dict(zip(names, values, strict=True))
        line.update(requests=int(line["requests"]), refused=int(line["refused"]), items=int(line["items"]),
                    first=iso(line["first"]), last=iso(line["last"]))
        out.append(line)
    return out
