"""Rows for every table the Grafana dashboards read, as the sink stores them.

Each kind of row goes through the codec and the sink's own row function
(agentaudit.sink.rows), so the dashboards are tried against what the pipeline
really writes: sealed chains from the processor's own code
(tests.chain_fixture.store_chains), and beside them actions that exercise
every panel's filter — two tenants, every outcome and policy decision,
approvals, tools, resources, LLM usage, risk scores and rule hits,
rejections of integrity and format kinds, incident lifecycles from opened to
resolved with a containment, alert deliveries and registry status changes.
All of it within the hour before the test runs (sink_support.BASE_US).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.codec import SingleObjectCodec
from agentaudit.registry.avro import to_avro
from agentaudit.registry.change import ChangeKind
from agentaudit.registry.keyfiles import ed25519_key
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.model import Scope
from agentaudit.registry.requests import ChangeRequest, Register, SetStatus
from agentaudit.registry.rows import REGISTRY_COLUMNS, REGISTRY_TABLE
from agentaudit.signing import Ed25519Signer
from agentaudit.sink.rows import (
    ALERTS_TABLE, COLUMNS, INCIDENTS_TABLE, RECORDS_TABLE, REJECTIONS_TABLE, alert_row, incident_row, record_row,
    registry_change_row, rejection_row,
)
from agentaudit.store import quote_identifier
from tests.chain_fixture import store_chains
from tests.chain_support import TestSigner
from tests.sink_support import BASE_US, record, rejection
from tests.unit.alert.support import incident

SECOND = 1_000_000
MINUTE = 60 * SECOND
codec = SingleObjectCodec()

# The sealed chains of store_chains belong to tenant acme; the actions below
# add a second tenant so a multi-tenant selection has something to tell apart.
SEALED_AGENTS = ("agent-0", "agent-1", "agent-2")
ACTIVE = (("acme", "support-bot"), ("acme", "billing-bot"), ("globex", "research-bot"))


@dataclass(frozen=True)
class Seeded:
    tenants: tuple[str, ...]
    agents: tuple[str, ...]


def _action_records() -> list[dict[str, Any]]:
    """AuditRecords covering every outcome, decision, approval and risk a panel counts."""
    out = []
    kinds: list[dict[str, Any]] = [
        dict(action_type="tool_call", tool="crm.lookup", resource="crm://customers/42", outcome="success",
             policy={"decision": "allow", "policy_id": "crm-read", "policy_version": "3", "reason": "in scope"}),
        dict(action_type="data_write", tool="payments.refund", resource="pay://refunds/7", outcome="success",
             policy={"decision": "deny", "policy_id": "refunds", "policy_version": "1", "reason": "over limit"}),
        dict(action_type="data_write", tool="payments.refund", resource="pay://refunds/8", outcome="success",
             policy={"decision": "require_approval", "policy_id": "refunds", "policy_version": "1",
                     "reason": "needs a human"},
             approval={"approver": {"type": "user", "id": "bob"}, "decision": "approved",
                       "decided_at": BASE_US, "approval_id": "ap-1"}),
        dict(action_type="tool_call", tool="deploy.run", resource="k8s://prod", outcome="denied",
             policy={"decision": "deny", "policy_id": "prod-deploys", "policy_version": "2", "reason": "freeze"}),
        dict(action_type="approval", tool="payments.refund", outcome="success",
             approval={"approver": {"type": "user", "id": "carol"}, "decision": "rejected",
                       "decided_at": BASE_US, "approval_id": "ap-2"}),
        dict(action_type="llm_call", outcome="success",
             model={"provider": "anthropic", "name": "claude-sonnet-4", "version": None},
             usage={"input_tokens": 1200, "output_tokens": 300, "cost_micros": 4500, "currency": "USD"}),
        dict(action_type="data_read", tool="warehouse.query", resource="dw://customers", outcome="failure",
             error={"code": "TIMEOUT", "message": "query timed out"}),
    ]
    hits = [
        [],
        [{"rule_id": "policy.executed_despite_decision", "severity": "critical", "reason": "deny, yet success"}],
        [],
        [{"rule_id": "policy.deny_burst", "severity": "medium", "reason": "5 denials in 1 min"}],
        [],
        [{"rule_id": "input.prompt_injection", "severity": "high", "reason": "ignore previous instructions"},
         {"rule_id": "budget.daily_tokens_exceeded", "severity": "medium", "reason": "over 1M tokens"}],
        [{"rule_id": "data.pii_in_parameters", "severity": "high", "reason": "e-mail address"}],
    ]
    scores = [0, 90, 10, 40, 0, 85, 60]
    offset = 0
    for n_agent, (tenant, agent) in enumerate(ACTIVE):
        for n, kind in enumerate(kinds):
            for repeat in range(2):
                offset += 1
                rec = record(offset, partition=1, ingest_us=BASE_US + offset * 20 * SECOND, tenant_id=tenant,
                             agent_id=agent, session_id=f"{agent}-s{repeat}", sequence=n * 2 + repeat + 1,
                             principal={"type": "user", "id": f"user-{n_agent}-{repeat}"}, **kind)
                position = n * 2 + repeat + 1
                rec["chain"] = {"position": position, "prev_hash": bytes(32), "hash": position.to_bytes(32, "big")}
                rec["risk_score"] = scores[n]
                rec["rule_hits"] = hits[n]
                out.append(rec)
    return out


def _rejections() -> list[dict[str, Any]]:
    out = []
    reasons = ["bad_signature", "unknown_agent", "not_avro", "clock_skew", "bad_signature", "replayed_event_id"]
    for n, reason in enumerate(reasons):
        rej = rejection(n, partition=1, reason_code=reason, ingest_us=BASE_US + n * 5 * MINUTE)
        tenant, agent = ACTIVE[n % len(ACTIVE)]
        rej["tenant_id"], rej["agent_id"] = tenant, agent
        out.append(rej)
    return out


def _incidents() -> list[dict[str, Any]]:
    """Lifecycles: one resolved after containment, one acknowledged, one still open, one integrity finding."""
    out = []
    lifecycles = [
        ("acme", "support-bot", "policy.executed_despite_decision", "critical", True,
         ["opened", "hits", "acknowledged", "contained", "resolved"]),
        ("acme", "billing-bot", "data.pii_in_parameters", "high", False, ["opened", "acknowledged"]),
        ("globex", "research-bot", "input.prompt_injection", "medium", False, ["opened", "hits"]),
        ("acme", "billing-bot", "integrity.bad_signature", "critical", False, ["opened", "acknowledged", "resolved"]),
    ]
    for n, (tenant, agent, rule, severity, contain, changes) in enumerate(lifecycles):
        incident_id = str(uuid.UUID(int=n + 1, version=4))
        opened = BASE_US + n * 3 * MINUTE
        for version, change in enumerate(changes, start=1):
            at = opened + (version - 1) * 4 * MINUTE
            entry = incident(change, severity=severity, tenant=tenant, version=version, incident_id=incident_id,
                             agent_id=agent, rule_id=rule, title=f"{rule} for {agent}", contain=contain,
                             first_seen=opened, last_seen=at, changed_at=at, hit_count=version)
            if change == "contained":
                entry["actor"] = "agentaudit-containment"
            out.append(entry)
    return out


def _deliveries(incidents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each opened incident: a failed first attempt on one route, then delivered."""
    out = []
    for entry in (e for e in incidents if e["change"] == "opened"):
        base = {
            "incident_id": entry["incident_id"], "version": entry["version"], "change": "opened",
            "tenant_id": entry["tenant_id"], "severity": entry["severity"], "route": "oncall", "kind": "pagerduty",
            "dedup_key": entry["incident_id"], "source": {"topic": "audit.incidents", "partition": 0, "offset": 0},
        }
        out.append({**base, "attempt": 1, "status": "retrying", "http_status": 503, "error": "HTTP 503",
                    "retry_in_ms": 1000, "at": entry["changed_at"] + SECOND, "latency_ms": 40})
        out.append({**base, "attempt": 2, "status": "delivered", "http_status": 202, "error": None,
                    "retry_in_ms": None, "at": entry["changed_at"] + 3 * SECOND, "latency_ms": 35})
    return out


def _registry(signer: TestSigner) -> list[tuple[object, ...]]:
    """Every active agent registered, one suspended by containment and reinstated (CC7.4)."""
    log = RegistryLog(signer.public_keys())
    requests: list[ChangeRequest] = [
        Register(agent_id=agent, name=agent, owner="tests", environment="test", tenant_id=tenant,
                 principals=("user:*",), scope=Scope(),
                 key=ed25519_key(Ed25519Signer.generate(f"{agent}-k").public_key_bytes()),
                 actor="alice", approver="bob", reason="setup")
        for tenant, agent in ACTIVE
    ]
    requests += [
        SetStatus(agent_id="support-bot", kind=ChangeKind.SUSPEND, actor="agentaudit-containment",
                  approver="policy.executed_despite_decision", reason="critical incident"),
        SetStatus(agent_id="support-bot", kind=ChangeKind.REACTIVATE, actor="alice", approver="bob",
                  reason="runtime fixed"),
    ]
    rows = []
    for n, request in enumerate(requests):
        change = log.prepare(request, signer, BASE_US + n * MINUTE, str(uuid.uuid4()))
        log.append(change)
        value = codec.encode("RegistryChange", to_avro(change))
        rows.append(registry_change_row(codec.decode("RegistryChange", value), value))
    return rows


def seed(client: Client, database: str) -> Seeded:
    """Store all of the above in `database` (migrated, empty)."""
    signer = TestSigner()
    store_chains(client, database, agents=len(SEALED_AGENTS), records=30, signer=signer)
    db = quote_identifier(database)

    def insert(table: str, rows: list[tuple[object, ...]]) -> None:
        client.insert(f"{db}.{table}", rows, column_names=list(COLUMNS[table]))

    records = []
    for rec in _action_records():
        raw = codec.encode("AuditRecord", rec)
        records.append(record_row(codec.decode("AuditRecord", raw), raw))
    insert(RECORDS_TABLE, records)
    rejections = []
    for rej in _rejections():
        raw = codec.encode("Rejection", rej)
        rejections.append(rejection_row(codec.decode("Rejection", raw), raw))
    insert(REJECTIONS_TABLE, rejections)
    entries = _incidents()
    insert(INCIDENTS_TABLE, [
        incident_row(codec.decode("Incident", raw), raw, "audit.incidents", 0, offset)
        for offset, raw in enumerate(codec.encode("Incident", e) for e in entries)
    ])
    insert(ALERTS_TABLE, [
        alert_row(codec.decode("AlertDelivery", codec.encode("AlertDelivery", d)), "audit.alerts", 0, offset)
        for offset, d in enumerate(_deliveries(entries))
    ])
    client.insert(f"{db}.{REGISTRY_TABLE}", _registry(signer), column_names=list(REGISTRY_COLUMNS))
    tenants = tuple(sorted({t for t, _ in ACTIVE}))
    return Seeded(tenants, tuple(sorted({a for _, a in ACTIVE} | set(SEALED_AGENTS))))
