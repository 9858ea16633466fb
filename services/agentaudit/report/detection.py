"""CC7.2 (detections), CC7.3 (incidents, their timelines, time to acknowledge and resolve), CC7.4 (containment)."""

from __future__ import annotations

import statistics
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.incident.queries import IncidentFilter, list_incidents, timeline
from agentaudit.report.scope import RECORDS, RECORDS_WHERE, TENANT, ReportScope, iso, rows, window
from agentaudit.severity import SEVERITIES

CONTAINMENT_ACTOR = "agentaudit-containment"  # the registry actor of the containment service (incident/containment.py)
INCIDENT_DETAIL_LIMIT = 50  # incidents shown with their whole timeline; the figures count every one
MAX_BUCKETS = 48


def bucket_seconds(since_us: int, until_us: int) -> int:
    """Pure: the width of the time chart's bars -- an hour, 6 hours, a day or a week, at most MAX_BUCKETS bars."""
    span_s = (until_us - since_us) / 1e6
    for width in (3600, 6 * 3600, 86_400, 7 * 86_400):
        if span_s / width <= MAX_BUCKETS:
            return width
    return 30 * 86_400


def detections(client: Client, scope: ReportScope) -> dict[str, Any]:
    params = scope.params()
    by_rule = rows(client, (
        f"SELECT hit.rule_id, hit.severity, count() FROM {RECORDS} ARRAY JOIN rule_hits AS hit "
        f"WHERE {RECORDS_WHERE} GROUP BY hit.rule_id, hit.severity ORDER BY count() DESC, hit.rule_id"
    ), params, "counting rule hits")
    width = bucket_seconds(scope.since_us, scope.until_us)
    over_time = rows(client, (
        "SELECT intDiv(toUnixTimestamp(ingest_time), {width:UInt32}) * {width:UInt32} AS bucket, hit.severity, "
        f"count() FROM {RECORDS} ARRAY JOIN rule_hits AS hit WHERE {RECORDS_WHERE} "
        "GROUP BY bucket, hit.severity ORDER BY bucket"
    ), scope.params(width=width), "counting rule hits over time")
    risk = rows(client, (
        "SELECT if(risk_score IS NULL, -1, least(intDiv(assumeNotNull(risk_score), 10), 9)) AS band, count() "
        f"FROM {RECORDS} WHERE {RECORDS_WHERE} GROUP BY band ORDER BY band"
    ), params, "reading the risk score distribution")
    return detections_summary(by_rule, over_time, risk, scope.since_us, scope.until_us, width)


def detections_summary(by_rule: list[tuple[Any, ...]], over_time: list[tuple[Any, ...]], risk: list[tuple[Any, ...]],
                       since_us: int, until_us: int, width: int) -> dict[str, Any]:
    """Pure: the CC7.2 section from its three queries' rows. Every bucket of the window is listed, empty or not."""
    first = since_us // 1_000_000 // width * width
    buckets: dict[int, dict[str, int]] = {t: {} for t in range(first, -(-until_us // 1_000_000), width)}
    for bucket, severity, n in over_time:
        buckets.setdefault(int(bucket), {})[severity] = int(n)
    bands = {int(b): int(n) for b, n in risk}
    return {
        "hits": sum(int(n) for _, _, n in by_rule),
        "by_rule": [{"rule_id": r, "severity": s, "hits": int(n)} for r, s, n in by_rule],
        "bucket_seconds": width,
        "over_time": [{"start": iso(t * 1_000_000), "by_severity": counts} for t, counts in sorted(buckets.items())],
        "risk_bands": [{"band": f"{10 * b}–{10 * b + 9 if b < 9 else 100}", "actions": bands.get(b, 0)}
                       for b in range(10)],
        "unscored": bands.get(-1, 0),
    }


def incidents(client: Client, scope: ReportScope) -> dict[str, Any]:
    """Incidents with an entry in the window: figures for all, timelines for the most recent INCIDENT_DETAIL_LIMIT."""
    times = rows(client, (
        "SELECT incident_id, argMaxIf(severity, (changed_at, version), change IN ('opened', 'hits')), "
        "toUnixTimestamp64Micro(minIf(changed_at, change = 'opened')), "
        "toUnixTimestamp64Micro(minIf(changed_at, change IN ('acknowledged', 'contained', 'resolved'))), "
        "toUnixTimestamp64Micro(minIf(changed_at, change = 'resolved')) "
        "FROM {database:Identifier}.audit_incidents WHERE incident_id IN ("
        "SELECT incident_id FROM {database:Identifier}.audit_incidents "
        f"WHERE {window('changed_at')} AND {TENANT}) GROUP BY incident_id"
    ), scope.params(), "reading incident response times")
    current = list_incidents(client, scope.database, IncidentFilter(
        scope.since, scope.until, tenants=scope.tenants, limit=0))
    detailed = []
    for state in current[:INCIDENT_DETAIL_LIMIT]:
        entries = timeline(client, scope.database, state.incident_id)
        detailed.append({**vars(state), "first_seen": iso(state.first_seen), "last_seen": iso(state.last_seen),
                         "changed_at": iso(state.changed_at),
                         "timeline": [{**e, "changed_at": iso(e["changed_at"])} for e in entries]})
    by_status: dict[str, int] = {}
    for state in current:
        by_status[state.status] = by_status.get(state.status, 0) + 1
    return {
        "count": len(current),
        "by_status": by_status,
        "by_severity": _by_severity(times),
        "response": response_times(times),
        "incidents": detailed,
        "shown": len(detailed),
    }


def _by_severity(times: list[tuple[Any, ...]]) -> dict[str, int]:
    counts = {s: 0 for s in reversed(SEVERITIES)}
    for _, severity, *_ in times:
        counts[severity] = counts.get(severity, 0) + 1
    return {s: n for s, n in counts.items() if n}


def response_times(times: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Pure: MTTA and MTTR in seconds from (incident, severity, opened, first response, resolved) in microseconds.

    Acknowledged means the first change a person made -- acknowledged,
    contained or resolved, as a step may be skipped. 0 stands for "never"
    (ClickHouse's minIf over no rows). An incident with any entry in the
    window is timed over all of its entries, so one opened before the window
    is measured from its real opening.
    """
    def stats(spans: list[float]) -> dict[str, Any]:
        return {"incidents": len(spans), "mean_s": round(statistics.fmean(spans), 1) if spans else None,
                "median_s": round(statistics.median(spans), 1) if spans else None,
                "max_s": round(max(spans), 1) if spans else None}

    opened = [(int(o), int(a), int(r)) for _, _, o, a, r in times if o]
    return {
        "mtta": stats([(a - o) / 1e6 for o, a, _ in opened if a]),
        "mttr": stats([(r - o) / 1e6 for o, _, r in opened if r]),
        "unacknowledged": sum(1 for _, a, _ in opened if not a),
        "unresolved": sum(1 for _, _, r in opened if not r),
    }


def containment(client: Client, scope: ReportScope, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """contained entries in the window, with the registry suspensions and reinstatements among `changes`."""
    names = ("changed_at", "incident_id", "tenant_id", "agent_id", "rule_id", "severity", "actor", "note")
    found = rows(client, (
        "SELECT toUnixTimestamp64Micro(changed_at), incident_id, tenant_id, agent_id, rule_id, severity, actor, note "
        "FROM {database:Identifier}.audit_incidents "
        f"WHERE change = 'contained' AND {window('changed_at')} AND {TENANT} "
        "ORDER BY changed_at, incident_id LIMIT 1 BY entry_id"
    ), scope.params(), "reading containment entries")
    marked = rows(client, (
        "SELECT uniqExact(incident_id) FROM {database:Identifier}.audit_incidents "
        f"WHERE contain AND {window('changed_at')} AND {TENANT}"
    ), scope.params(), "counting incidents marked for containment")
    contained = [{**dict(zip(names, r, strict=True)), "changed_at": iso(r[0])} for r in found]
    return containment_summary(contained, int(marked[0][0]), changes)


def containment_summary(contained: list[dict[str, Any]], marked: int, changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: the CC7.4 section."""
    suspensions = [c for c in changes if c["kind"] == "suspend"]
    return {
        "incidents_marked_for_containment": marked,
        "contained_entries": contained,
        "suspensions": suspensions,
        "automatic_suspensions": sum(1 for c in suspensions if c["actor"] == CONTAINMENT_ACTOR),
        "reinstatements": [c for c in changes if c["kind"] == "reactivate"],
        "retirements": [c for c in changes if c["kind"] == "retire"],
    }
