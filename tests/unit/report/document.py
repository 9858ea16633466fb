"""A report document built from the pure section functions, with hostile strings wherever agents or people write."""

from __future__ import annotations

from typing import Any

from agentaudit.report.access import credentials, decisions_summary, inventory_entry
from agentaudit.report.changes import change_management
from agentaudit.report.detection import containment_summary, detections_summary, response_times
from agentaudit.report.gather import FORMAT, SECTIONS
from agentaudit.report.integrity import retention_summary

EVIL = '<img src="http://evil.example/x" onerror="alert(1)">'
HOUR = 3_600_000_000
T0 = 1_800_000_000_000_000


def change(kind: str, actor: str = "alice", approver: str = "bob", agent: str = "agent-1") -> dict[str, Any]:
    return {"position": 1, "valid_from": "2027-01-15T08:00:00.000000Z", "kind": kind, "tenant_id": "acme",
            "agent_id": agent, "agent_version": 2, "status": "active", "actor": actor, "approver": approver,
            "reason": EVIL, "key_ids": ["k1"]}


def chain(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id, "tenant_id": "acme", "principal": {"type": "user", "id": EVIL},
        "agent": {"agent_id": "agent-1", "key_id": "k1", "registry": {
            "position": 3, "change": "register", "version": 1, "status": "active",
            "valid_from": "2027-01-15T07:00:00.000000Z", "actor": "alice", "approver": "bob", "reason": "setup",
            "owner": "team", "scope": {}, "key_listed": True}},
        "policy_decision": {"decision": "deny", "policy_id": "refunds", "policy_version": "3", "reason": EVIL},
        "approval": None,
        "execution": {"action_type": "tool_call", "tool": "billing.refund", "resource": EVIL, "model": None,
                      "input_tokens": 0, "output_tokens": 0, "cost_micros": 0, "currency": None,
                      "session_id": "s-1", "sequence": 4, "correlation_id": None, "parent_event_id": None,
                      "agent_time": "2027-01-15T08:00:00.000000Z", "ingest_time": "2027-01-15T08:00:00.001000Z",
                      "clock_skew_ms": -1, "parameters_bytes": 12, "attribute_names": []},
        "outcome": {"outcome": "success", "error_code": None, "error_message": None},
        "detection": {"risk_score": 100, "rule_hits": [{"rule_id": "policy.executed_despite_decision",
                                                         "severity": "critical", "reason": EVIL}]},
        "related_actions": [], "incidents": [],
        "custody": {"source": {}, "chain_position": 4, "prev_hash": "00" * 32, "hash": "11" * 32,
                    "seal": {"seq": 1, "first_position": 1, "last_position": 8, "key_id": "pk"},
                    "proof_verified": True, "proof_file": f"samples/{event_id}.proof.json", "problem": None},
    }


def document() -> dict[str, Any]:
    registry = [change("register"), change("suspend", actor="agentaudit-containment", approver="rule:x"),
                change("reactivate"), change("rotate_key", actor="carol", approver="carol")]
    agent = inventory_entry("acme", EVIL, "active", 2, T0, T0 + HOUR,
                            '{"name": "bot", "owner": "' + EVIL.replace('"', '\\"') + '", "environment": "prod", '
                            '"principals": ["user:*"], "scope": {"tools": ["crm"]}, "keys": [{"key_id": "k1", '
                            '"algorithm": "ed25519", "material": "abcd", "valid_from_us": ' + str(T0) +
                            ', "valid_until_us": null}]}', "alice", "bob", 2)
    sections: dict[str, Any] = {
        "cc6_1": decisions_summary([("allow", "success", 30, 30), ("deny", "denied", 5, 5), ("deny", "success", 2, 2),
                                    ("", "success", 3, 3)]),
        "cc6_2_3": credentials([agent], registry),
        "cc7_2": detections_summary([(EVIL, "critical", 2), ("scope.tool_out_of_scope", "high", 7)],
                                    [(T0 // 1_000_000, "high", 7), (T0 // 1_000_000 + 3600, "critical", 2)],
                                    [(9, 5), (0, 30), (-1, 1)], T0, T0 + 4 * HOUR, 3600),
        "cc7_3": {"count": 1, "by_status": {"resolved": 1}, "by_severity": {"critical": 1},
                  "response": response_times([("i1", "critical", T0, T0 + 60_000_000, T0 + HOUR)]), "shown": 1,
                  "incidents": [{"incident_id": "i1", "tenant_id": "acme", "agent_id": "agent-1", "rule_id": "r",
                                 "severity": "critical", "title": EVIL, "status": "resolved", "owner": "dave",
                                 "hit_count": 2, "timeline": [{"changed_at": "2027-01-15T08:00:00.000000Z",
                                                               "change": "resolved", "status": "resolved",
                                                               "actor": "dave", "owner": "dave", "hit_count": 2,
                                                               "note": EVIL}]}]},
        "cc7_4": containment_summary([], 0, registry),
        "cc8_1": change_management(registry, [{"tenant_id": "acme", "agent_id": "agent-1", "policy_id": EVIL,
                                               "policy_version": "3", "first_seen": None, "last_seen": None,
                                               "actions": 3}], []),
        "retention": retention_summary([{"table": "audit_records", "ttl_days": 400, "ttl_column": "ingest_time",
                                         "ttl": "x", "rows": 10, "oldest": None, "meets_floor": True},
                                        {"table": "agent_registry", "ttl_days": None, "ttl_column": None,
                                         "ttl": None, "rows": 4, "oldest": None, "meets_floor": None}], [], 400),
        "verification": {"ok": False, "agents": 1, "records": 10, "seals": 2, "unsealed": 0, "registry_entries": 4,
                         "findings_total": 1, "findings": [{"kind": "record_modified", "agent_id": "agent-1",
                                                            "position": 3, "event_id": None, "seal_seq": None,
                                                            "detail": EVIL}]},
        "completeness": {"accepted": 40, "rejected": 3, "rejected_by_reason": {"not_avro": 3}, "sessions": 2,
                         "incomplete_sessions": 1, "missing_actions": 1, "duplicate_actions": 0,
                         "worst_sessions": [], "records_sealed": 40, "seal_coverage": 1.0},
        "access": {"by_key": [{"key_id": "k", "key_name": EVIL, "role": "auditor", "requests": 3, "refused": 0,
                               "items": 9, "first": None, "last": None}]},
        "sample": {"n": 1, "seed": 42, "population": 40, "method": "m", "event_ids": ["e-1"], "chains": [chain("e-1")]},
    }
    sections["cc6_1"]["sample_event_ids"] = ["e-1"]
    for key, criterion, title in SECTIONS:
        sections[key] = {"criterion": criterion, "title": title, **sections[key]}
    return {"format": FORMAT, "generator": {"name": "agentaudit", "version": "0"},
            "generated_at": "2027-01-16T00:00:00.000000Z", "database": "agentaudit",
            "window": {"since": "2027-01-15T00:00:00.000000Z", "until": "2027-01-16T00:00:00.000000Z",
                       "tenants": ["acme"]}, "sections": sections}
