"""GET /v1/actions/{event_id}/trace: one action's chain of custody.

principal → agent identity (the registry entry in effect, who approved it) →
policy decision → approval → execution → outcome → detection → incidents,
then the evidence that the record is the one the pipeline wrote: its chain
position and hashes, the seal covering it and an RFC 6962 inclusion proof
(checked here before it is handed out, and checkable offline by
`agentaudit verify --proof`, with the same document).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.api import views
from agentaudit.evidence.proof import verify_proof
from agentaudit.evidence.prove import NotSealedYet, ProofError, make_proof
from agentaudit.incident.queries import incident_state, timeline
from agentaudit.settings import Settings


def trace(client: Client, settings: Settings, event_id: str, tenants: tuple[str, ...] | None,
          public_keys_document: Mapping[str, Any] | None) -> dict[str, Any]:
    database = settings.clickhouse_database
    row = views.action(client, database, event_id, tenants)
    tenant, agent = row["tenant_id"], row["agent_id"]
    identity = views.registry_entry_at(client, database, tenant, agent, int(row["ingest_time"]))
    return {
        "event_id": event_id,
        "tenant_id": tenant,
        "principal": {"type": row["principal_type"], "id": row["principal_id"]},
        "agent": _agent(row, identity),
        "policy_decision": {
            "decision": row["policy_decision"] or None, "policy_id": row["policy_id"] or None,
            "policy_version": row["policy_version"] or None, "reason": row["policy_reason"] or None,
        },
        "approval": None if not (row["approver_id"] or row["approval_id"]) else {
            "approver": {"type": row["approver_type"], "id": row["approver_id"]},
            "decision": row["approval_decision"] or None, "decided_at": row["approval_decided_at"],
            "approval_id": row["approval_id"] or None,
        },
        "execution": {
            "action_type": row["action_type"], "tool": row["tool"] or None, "resource": row["resource"] or None,
            "parameters": row["parameters"] or None,
            "model": None if not row["model_name"] else {
                "provider": row["model_provider"], "name": row["model_name"], "version": row["model_version"] or None},
            "input_tokens": row["input_tokens"], "output_tokens": row["output_tokens"],
            "cost_micros": row["cost_micros"], "currency": row["currency"] or None,
            "session_id": row["session_id"], "sequence": row["sequence"],
            "correlation_id": row["correlation_id"] or None, "parent_event_id": row["parent_event_id"] or None,
            "agent_time": row["agent_time"], "ingest_time": row["ingest_time"], "clock_skew_ms": row["clock_skew_ms"],
            "attributes": dict(row["attributes"]),
        },
        "outcome": {"outcome": row["outcome"], "error_code": row["error_code"] or None,
                    "error_message": row["error_message"] or None},
        "detection": {"risk_score": row["risk_score"], "rule_hits": row["rule_hits"]},
        "related_actions": views.related(client, database, row),
        "incidents": _incidents(client, database, tenant, event_id),
        "custody": _custody(client, settings, row, public_keys_document),
    }


def _agent(row: dict[str, Any], identity: dict[str, Any] | None) -> dict[str, Any]:
    agent: dict[str, Any] = {"agent_id": row["agent_id"], "key_id": row["key_id"] or None}
    if identity is None:
        agent["registry"] = None
        return agent
    definition = identity["definition"]
    agent["registry"] = {
        "position": identity["position"], "change": identity["kind"], "version": identity["agent_version"],
        "status": identity["status"], "valid_from": identity["valid_from"], "actor": identity["actor"],
        "approver": identity["approver"], "reason": identity["reason"], "owner": definition.get("owner"),
        "scope": definition.get("scope"), "key_listed": row["key_id"] in identity["key_ids"],
    }
    return agent


def _incidents(client: Client, database: str, tenant: str, event_id: str) -> list[dict[str, Any]]:
    found = []
    for incident_id in views.incident_ids_of(client, database, tenant, event_id):
        state = incident_state(client, database, incident_id)
        if state is not None:
            found.append({**state.__dict__, "timeline": timeline(client, database, incident_id)})
    return found


def _custody(client: Client, settings: Settings, row: dict[str, Any],
             public_keys_document: Mapping[str, Any] | None) -> dict[str, Any]:
    custody: dict[str, Any] = {
        "source": {"topic": row["source_topic"], "partition": row["source_partition"], "offset": row["source_offset"]},
        "chain_position": row["chain_position"], "prev_hash": row["chain_prev_hash"], "hash": row["chain_hash"],
        "seal": None, "inclusion_proof": None, "proof_verified": False, "problem": None,
    }
    if public_keys_document is None:
        custody["problem"] = "the API has no pipeline public keys (AGENTAUDIT_HOME/keys), so it makes no proof"
        return custody
    try:
        proof = make_proof(client, settings, row["event_id"], public_keys_document, time.time_ns() // 1000)
    except (NotSealedYet, ProofError) as exc:
        custody["problem"] = str(exc)
        return custody
    # Checked the way an auditor checks it offline; the keys it carries are the API's own.
    result = verify_proof(proof)
    custody.update(seal=proof["seal"], inclusion_proof=proof, proof_verified=result.ok,
                   problem=None if result.ok else "; ".join(f.detail for f in result.findings))
    return custody
