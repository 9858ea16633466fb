"""What each receiver is sent, checked against the documented APIs:
PagerDuty Events API v2, Alertmanager API v2 (postableAlerts), Slack incoming
webhooks, and OCSF 1.3.0 Detection Finding for the generic webhook."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from agentaudit.alert.ocsf import detection_finding
from agentaudit.alert.payloads import (
    PAGERDUTY_SEVERITY, alertmanager_alerts, build_request, pagerduty_event, slack_message,
)
from agentaudit.alert.routes import Route, RouteKind
from tests.unit.alert.support import BASE_US, incident

PD_SEVERITIES = {"critical", "error", "warning", "info"}  # the only values the Events API accepts
PD_ACTIONS = {"trigger", "acknowledge", "resolve"}


def test_pagerduty_trigger_has_every_required_field() -> None:
    entry = incident(severity="critical")
    event = pagerduty_event(entry, "R0UT1NGKEY")
    assert event["routing_key"] == "R0UT1NGKEY"
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == entry["incident_id"]
    payload = event["payload"]
    assert {"summary", "severity", "source"} <= set(payload)  # required by the API
    assert payload["severity"] == "critical" and payload["source"] == "agent-7"
    assert payload["component"] == "integrity.bad_signature" and payload["group"] == "acme"
    assert 0 < len(payload["summary"]) <= 1024
    datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
    assert payload["custom_details"]["detail"]["kind"] == "bad_signature"


def test_pagerduty_severity_values_are_the_four_the_api_takes() -> None:
    assert set(PAGERDUTY_SEVERITY.values()) <= PD_SEVERITIES
    for severity in ("info", "low", "medium", "high", "critical"):
        assert pagerduty_event(incident(severity=severity), "k")["payload"]["severity"] in PD_SEVERITIES


@pytest.mark.parametrize(("change", "action"), [("acknowledged", "acknowledge"), ("resolved", "resolve")])
def test_pagerduty_updates_name_the_incident_and_carry_no_payload(change: str, action: str) -> None:
    entry = incident(change, incident_id="inc-1")
    assert pagerduty_event(entry, "k") == {"routing_key": "k", "event_action": action, "dedup_key": "inc-1"}
    assert action in PD_ACTIONS


def test_pagerduty_summary_is_cut_to_the_api_limit() -> None:
    assert len(pagerduty_event(incident(title="x" * 5000), "k")["payload"]["summary"]) == 1024


def test_alertmanager_alert_has_the_v2_fields() -> None:
    entry = incident(severity="medium", incident_id="inc-2")
    sent_at = BASE_US + 60_000_000
    (alert,) = alertmanager_alerts(entry, sent_at, ttl_s=3600)
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt"}
    assert alert["labels"] == {"alertname": "AgentAuditIncident", "severity": "medium", "tenant": "acme",
                               "agent_id": "agent-7", "rule_id": "integrity.bad_signature", "incident_id": "inc-2"}
    assert all(isinstance(v, str) for v in {**alert["labels"], **alert["annotations"]}.values())
    assert alert["annotations"]["summary"] == entry["title"]
    starts, ends = (datetime.fromisoformat(alert[k].replace("Z", "+00:00")) for k in ("startsAt", "endsAt"))
    assert starts.timestamp() == BASE_US / 1e6
    assert ends.timestamp() == pytest.approx(sent_at / 1e6 + 3600)


def test_alertmanager_resolve_ends_the_alert_at_the_resolution() -> None:
    entry = incident("resolved")
    (alert,) = alertmanager_alerts(entry, BASE_US + 10**9, ttl_s=3600)
    ends = datetime.fromisoformat(alert["endsAt"].replace("Z", "+00:00"))
    assert ends.timestamp() == pytest.approx(entry["changed_at"] / 1e6, abs=1e-3)


def test_slack_message_has_text_and_blocks() -> None:
    message = slack_message(incident(severity="high"))
    assert message["text"].startswith(":rotating_light: [HIGH] Forged or altered action")
    assert [b["type"] for b in message["blocks"]] == ["header", "section", "context"]
    assert len(message["blocks"][0]["text"]["text"]) <= 150  # Slack's header limit
    resolved = slack_message(incident("resolved"))
    assert resolved["text"].startswith(":white_check_mark: [RESOLVED]") and "(by alice)" in resolved["text"]
    acked = slack_message(incident("acknowledged"))
    assert any(b["type"] == "section" and b.get("text", {}).get("text") == "looking into it" for b in acked["blocks"])


def test_webhook_body_is_an_ocsf_detection_finding() -> None:
    entry = incident(severity="critical", incident_id="inc-3")
    finding = detection_finding(entry)
    assert (finding["class_uid"], finding["category_uid"], finding["type_uid"]) == (2004, 2, 200401)
    assert (finding["activity_id"], finding["severity_id"], finding["status_id"]) == (1, 5, 1)
    assert finding["time"] == entry["changed_at"] // 1000
    assert finding["risk_score"] == 90
    assert finding["finding_info"] == {
        "uid": "inc-3", "title": entry["title"], "types": ["integrity.bad_signature"],
        "first_seen_time": BASE_US // 1000, "last_seen_time": (BASE_US + 5_000_000) // 1000,
    }
    assert finding["metadata"]["product"]["name"] == "agentaudit" and finding["metadata"]["version"] == "1.3.0"
    assert finding["metadata"]["uid"] == "inc-3:opened"
    assert {k: finding["unmapped"][k] for k in ("tenant_id", "agent_id", "rule_id")} == {
        "tenant_id": "acme", "agent_id": "agent-7", "rule_id": "integrity.bad_signature"}
    resolved = detection_finding(incident("resolved"))
    assert (resolved["activity_id"], resolved["status_id"], resolved["type_uid"]) == (3, 4, 200403)
    acked = detection_finding(incident("acknowledged"))
    assert (acked["activity_id"], acked["status_id"]) == (2, 2)


def test_version_1_entries_take_their_time_from_last_seen() -> None:
    assert detection_finding(incident(changed_at=0))["time"] == (BASE_US + 5_000_000) // 1000


def route(kind: RouteKind, **extra: Any) -> Route:
    return Route(name="r", kind=kind, url="https://receiver.example/in", **extra)


def test_requests_are_json_with_the_dedup_key_and_the_route_headers() -> None:
    entry = incident(incident_id="inc-4")
    request = build_request(route(RouteKind.WEBHOOK, headers={"Authorization": "Bearer t"}), entry, BASE_US)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Idempotency-Key"] == "inc-4:opened"
    assert request.headers["Authorization"] == "Bearer t"
    assert json.loads(request.body)["class_uid"] == 2004
    bodies: dict[RouteKind, Any] = {
        kind: json.loads(build_request(route(kind, routing_key="k"), entry, BASE_US).body) for kind in RouteKind
    }
    assert bodies[RouteKind.PAGERDUTY]["routing_key"] == "k"
    assert bodies[RouteKind.ALERTMANAGER][0]["labels"]["incident_id"] == "inc-4"
    assert "text" in bodies[RouteKind.SLACK]
