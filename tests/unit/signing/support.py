"""Actions for the signing tests: the vectors' actions and seeded random ones."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from agentaudit.signing.vectors import vectors_path

VECTORS: dict[str, Any] = json.loads(vectors_path().read_text(encoding="utf-8"))


def vector_action(name: str) -> dict[str, Any]:
    for vector in VECTORS["vectors"]:
        if vector["name"] == name:
            return copy.deepcopy(vector["action"])
    raise KeyError(name)


_TEXT = ["", "a", "crm.lookup", "café", "☕ tea", "\U0001f600", "\uff5e", "x" * 70, "Zz", "é"]


def _maybe(rng: random.Random, value: Any) -> Any:
    return value if rng.random() < 0.5 else None


def random_action(rng: random.Random) -> dict[str, Any]:
    """A valid AgentAction with a random mix of optional fields and awkward values
    (long strings, non-ASCII keys, negative and 63-bit longs)."""

    def text() -> str:
        return rng.choice(_TEXT)

    def number() -> int:
        return rng.choice([0, 1, 63, 64, -1, -65, 2**31, 2**63 - 1, -(2**63), rng.randrange(-(10**12), 10**12)])

    return {
        "event_id": f"01934b6e-1c2a-7c3d-8e4f-{rng.randrange(16**12):012x}",
        "agent_id": text() or "agent",
        "session_id": text(),
        "sequence": rng.choice([1, 2, 127, 128, 2**40, 2**63 - 1]),
        "tenant_id": text(),
        "principal": {"type": rng.choice(["user", "service", "agent", "system", "unknown"]), "id": text()},
        "action_type": rng.choice(["llm_call", "tool_call", "data_read", "other", "agent_change"]),
        "tool": _maybe(rng, text()),
        "resource": _maybe(rng, text()),
        "parameters": _maybe(rng, '{"k":1}'),
        "outcome": rng.choice(["success", "failure", "denied", "pending", "unknown"]),
        "error": _maybe(rng, {"code": text(), "message": text()}),
        "policy": _maybe(rng, {"decision": rng.choice(["allow", "deny", "require_approval"]), "policy_id": text(),
                               "policy_version": text(), "reason": _maybe(rng, text())}),
        "approval": _maybe(rng, {"approver": {"type": "user", "id": text()}, "decision": rng.choice(["approved", "rejected"]),
                                 "decided_at": number(), "approval_id": _maybe(rng, text())}),
        "model": _maybe(rng, {"provider": text(), "name": text(), "version": _maybe(rng, text())}),
        "usage": _maybe(rng, {"input_tokens": number(), "output_tokens": number(), "cost_micros": number(), "currency": text()}),
        "agent_time": number(),
        "correlation_id": _maybe(rng, text()),
        "parent_event_id": _maybe(rng, text()),
        "attributes": {text() + str(i % 3): text() for i in range(rng.randrange(0, 8))},
        "key_id": _maybe(rng, "key-" + text()),
        "signature": _maybe(rng, rng.randbytes(64)),
    }
