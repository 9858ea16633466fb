"""Shared test data for the sink, query and store tests: AuditRecords and
Rejections as the processor writes them, with known source coordinates."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.avro_support import action

# An hour ago, to the second: recent enough that no TTL (400 days) removes the
# rows a test inserts.
BASE_US = (int(time.time()) - 3600) * 1_000_000


def event_id(n: int) -> str:
    return str(uuid.UUID(int=n, version=4))


def record(offset: int, partition: int = 0, *, topic: str = "agent.actions", ingest_us: int | None = None,
           full: bool = False, **action_overrides: Any) -> dict[str, Any]:
    """An AuditRecord made from agent.actions partition/offset."""
    ingest = BASE_US + offset * 1000 if ingest_us is None else ingest_us
    fields: dict[str, Any] = dict(
        event_id=event_id(partition * 1_000_000 + offset),
        agent_id=f"agent-{partition}",
        sequence=offset + 1,
        agent_time=ingest - 5000,
    )
    if full:
        fields.update(
            tool="search", resource="db.customers", parameters='{"q": "x"}', outcome="failure",
            error={"code": "E42", "message": "boom"},
            policy={"decision": "allow", "policy_id": "p1", "policy_version": "3", "reason": "ok"},
            approval={"approver": {"type": "user", "id": "bob"}, "decision": "approved",
                      "decided_at": ingest - 10_000, "approval_id": "a-1"},
            model={"provider": "openai", "name": "gpt", "version": "2025-01"},
            usage={"input_tokens": 10, "output_tokens": 20, "cost_micros": 300, "currency": "EUR"},
            correlation_id="trace-1", parent_event_id=event_id(7), attributes={"gen_ai.system": "openai"},
            key_id="k1", signature=b"\x00\xffsig",
        )
    fields.update(action_overrides)
    out: dict[str, Any] = {
        "action": action(**fields),
        "ingest_time": ingest,
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "clock_skew_ms": -5,
        "chain": None,
        "risk_score": None,
        "rule_hits": [],
    }
    if full:
        out["chain"] = {"position": 3, "prev_hash": b"\x01" * 32, "hash": b"\x02" * 32}
        out["risk_score"] = 70
        out["rule_hits"] = [{"rule_id": "r1", "severity": "high", "reason": "why"}]
    return out


def rejection(offset: int, partition: int = 0, *, topic: str = "agent.actions", reason_code: str = "not_avro",
              ingest_us: int | None = None) -> dict[str, Any]:
    """A Rejection of agent.actions partition/offset."""
    return {
        "reason_code": reason_code,
        "reason": f"test rejection {offset}",
        "source": {"topic": topic, "partition": partition, "offset": offset},
        "ingest_time": BASE_US + offset * 1000 if ingest_us is None else ingest_us,
        "key": f"agent-{partition}".encode(),
        "original": b"\x00garbage" + offset.to_bytes(4, "big"),
        "agent_id": f"agent-{partition}",
        "tenant_id": None,
        "event_id": None,
    }
