"""The demo's last act: an auditor asks the query API how the rogue agent's refund was allowed.

Runs after the pipeline stopped (the embedded database is then free): issues
an auditor key for the rogue agent's tenant, serves the API in this process,
fetches the refund's chain of custody over HTTP, checks its inclusion proof
the way an auditor would offline, and reads the access log, where those very
requests now stand.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from agentaudit.settings import Settings


def _get(base: str, path: str, key: str) -> Any:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def audit_the_refund(settings: Settings, tenant: str, event_id: str) -> dict[str, Any]:
    from agentaudit.api.access import Role
    from agentaudit.api.keystore import KeyStore
    from agentaudit.api.server import QueryApi, serving
    from agentaudit.evidence.proof import verify_proof
    from agentaudit.keyring import local_public_keys_document
    from agentaudit.store import connect

    client = connect(settings)
    try:
        key_state, key = KeyStore(client, settings.clickhouse_database).create(
            "demo auditor", Role.AUDITOR, (tenant,), "agentaudit demo", reason="the demo's walk-through")
    finally:
        client.close()

    def no_incident_changes(_entry: dict[str, Any]) -> None:
        raise AssertionError("the walk-through only reads")

    api = QueryApi(settings, 1, local_public_keys_document(settings), no_incident_changes)
    try:
        with serving(api) as base:
            trace = _get(base, f"/v1/actions/{event_id}/trace", key)
            reads = _get(base, f"/v1/reads?since=-1h&key={key_state.key_id}", key)
    finally:
        api.close()
    custody = trace["custody"]
    proof = custody["inclusion_proof"]
    return {
        "event_id": event_id,
        "key_id": key_state.key_id,
        "principal": f"{trace['principal']['type']}:{trace['principal']['id']}",
        "policy": trace["policy_decision"],
        "outcome": trace["outcome"]["outcome"],
        "incidents": [(i["rule_id"], i["status"]) for i in trace["incidents"]],
        "chain_position": custody["chain_position"],
        "seal": custody["seal"]["seq"] if custody["seal"] else None,
        "proof_verified": bool(proof) and custody["proof_verified"] and verify_proof(proof).ok,
        "problem": custody["problem"],
        "reads_recorded": len(reads["items"]),
    }
