"""The HTTP request each kind of receiver is sent for one incident entry. No I/O.

- webhook: the OCSF Detection Finding (agentaudit.alert.ocsf), with an
  Idempotency-Key header carrying the dedup key.
- slack: an incoming-webhook message, `text` (shown in notifications and by
  clients without blocks) plus `blocks` (header, fields, context).
- pagerduty: an Events API v2 event (POST /v2/enqueue): routing_key,
  event_action trigger / acknowledge / resolve, dedup_key = incident_id (so
  PagerDuty keeps one alert per incident and drops repeated triggers), and on
  trigger a payload with summary, severity (critical, error, warning or info),
  source, component, group, class, timestamp and custom_details.
- alertmanager: a one-element list of postable alerts (POST /api/v2/alerts):
  labels identify the alert (Alertmanager de-duplicates on them), annotations
  carry context, startsAt the first matching action, endsAt the resolution time or, while
  open, send time + alertmanager_ttl_s (see routes.py for why).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from agentaudit.alert.ocsf import dedup_key, detail_of, detection_finding, entry_time_us
from agentaudit.alert.routes import Route, RouteKind

PAGERDUTY_SEVERITY: Mapping[str, str] = {
    "critical": "critical", "high": "error", "medium": "warning", "low": "info", "info": "info",
}
PAGERDUTY_ACTION: Mapping[str, str] = {"opened": "trigger", "acknowledged": "acknowledge", "resolved": "resolve"}
PAGERDUTY_SUMMARY_MAX = 1024  # the Events API refuses longer summaries
ALERTNAME = "AgentAuditIncident"
_SLACK_EMOJI: Mapping[str, str] = {"opened": ":rotating_light:", "acknowledged": ":eyes:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True)
class Request:
    """One POST: the URL and headers may hold secrets (never log them), the body is JSON."""

    url: str = field(repr=False)
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


def build_request(route: Route, incident: Mapping[str, Any], sent_at_us: int) -> Request:
    """The request `route` is sent for this entry; sent_at_us only matters to Alertmanager."""
    if route.kind is RouteKind.WEBHOOK:
        body: Any = detection_finding(incident)
    elif route.kind is RouteKind.SLACK:
        body = slack_message(incident)
    elif route.kind is RouteKind.PAGERDUTY:
        body = pagerduty_event(incident, route.routing_key)
    else:
        body = alertmanager_alerts(incident, sent_at_us, route.alertmanager_ttl_s)
    headers = {"Content-Type": "application/json", "User-Agent": "agentaudit-alert",
               "Idempotency-Key": dedup_key(incident), **route.headers}
    return Request(route.url, json.dumps(body, separators=(",", ":"), sort_keys=True).encode(), headers)


def rfc3339(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headline(incident: Mapping[str, Any]) -> str:
    change = str(incident["change"])
    prefix = {"opened": f"[{str(incident['severity']).upper()}]", "acknowledged": "[ACK]", "resolved": "[RESOLVED]"}
    return f"{prefix.get(change, change)} {incident['title']}"


def slack_message(incident: Mapping[str, Any]) -> dict[str, Any]:
    change = str(incident["change"])
    who = incident.get("owner") or incident.get("actor")
    text = f"{_SLACK_EMOJI.get(change, '')} {_headline(incident)}".strip()
    if change != "opened" and who:
        text += f" (by {who})"
    fields = [
        ("Severity", incident["severity"]), ("Tenant", incident["tenant_id"]), ("Agent", incident["agent_id"]),
        ("Rule", incident["rule_id"]), ("Risk score", incident.get("risk_score", 0)), ("Hits", incident["hit_count"]),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _headline(incident)[:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields]},
    ]
    if incident.get("note"):
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": str(incident["note"])[:3000]}})
    context = f"incident {incident['incident_id']} · {change} · {rfc3339(entry_time_us(incident))}"
    if incident.get("contain"):
        context += " · agent suspended"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": text, "blocks": blocks}


def pagerduty_event(incident: Mapping[str, Any], routing_key: str) -> dict[str, Any]:
    change = str(incident["change"])
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": PAGERDUTY_ACTION[change],
        "dedup_key": str(incident["incident_id"]),
    }
    if change == "opened":
        event["payload"] = {
            "summary": _headline(incident)[:PAGERDUTY_SUMMARY_MAX],
            "severity": PAGERDUTY_SEVERITY[str(incident["severity"])],
            "source": str(incident["agent_id"]),
            "component": str(incident["rule_id"]),
            "group": str(incident["tenant_id"]),
            "class": str(incident["rule_id"]).split(".")[0],
            "timestamp": rfc3339(entry_time_us(incident)),
            "custom_details": _details(incident),
        }
        event["client"] = "agentaudit"
    return event


def alertmanager_alerts(incident: Mapping[str, Any], sent_at_us: int, ttl_s: float) -> list[dict[str, Any]]:
    resolved = incident["change"] == "resolved"
    ends_us = entry_time_us(incident) if resolved else sent_at_us + int(ttl_s * 1e6)
    annotations = {
        "summary": str(incident["title"]),
        "risk_score": str(incident.get("risk_score", 0)),
        "hit_count": str(incident["hit_count"]),
        "status": str(incident["status"]),
    }
    for key in ("owner", "note"):
        if incident.get(key):
            annotations[key] = str(incident[key])
    if incident.get("detail"):
        annotations["description"] = str(incident["detail"])
    return [{
        "labels": {
            "alertname": ALERTNAME,
            "severity": str(incident["severity"]),
            "tenant": str(incident["tenant_id"]),
            "agent_id": str(incident["agent_id"]),
            "rule_id": str(incident["rule_id"]),
            "incident_id": str(incident["incident_id"]),
        },
        "annotations": annotations,
        "startsAt": rfc3339(int(incident["first_seen"])),
        "endsAt": rfc3339(ends_us),
    }]


def _details(incident: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "incident_id": incident["incident_id"], "tenant_id": incident["tenant_id"],
        "agent_id": incident["agent_id"], "rule_id": incident["rule_id"], "severity": incident["severity"],
        "risk_score": incident.get("risk_score", 0), "hit_count": incident["hit_count"],
        "first_seen": rfc3339(int(incident["first_seen"])), "contain": bool(incident.get("contain")),
        "event_ids": list(incident.get("event_ids") or []), "detail": detail_of(incident),
    }
