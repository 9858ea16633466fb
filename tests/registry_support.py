"""Registry requests for tests; tests.chain_support.TestSigner signs them like the keyring."""

from __future__ import annotations

from agentaudit.registry.change import ChangeKind
from agentaudit.registry.keyfiles import new_ed25519_key
from agentaudit.registry.model import Scope
from agentaudit.registry.requests import NewKey, Register, RotateKey, SetStatus

HOUR_US = 3600 * 1_000_000
DAY_US = 24 * HOUR_US


def new_key() -> NewKey:
    return new_ed25519_key()[0]


def register(agent_id: str = "billing-agent", key: NewKey | None = None, **overrides: object) -> Register:
    fields: dict[str, object] = dict(
        agent_id=agent_id, name="Billing agent", owner="team-billing", environment="production", tenant_id="acme",
        principals=("user:*", "service:invoicer"),
        scope=Scope(action_types=("tool_call", "data_read"), tools=("crm.lookup",),
                    resource_patterns=("crm://accounts/*",), data_classes=("financial",)),
        key=key or new_key(), actor="alice", approver="bob", reason="TICKET-1",
    )
    fields.update(overrides)
    return Register(**fields)  # type: ignore[arg-type]


def set_status(agent_id: str, kind: ChangeKind, actor: str = "alice", approver: str = "bob") -> SetStatus:
    return SetStatus(agent_id=agent_id, kind=kind, actor=actor, approver=approver, reason=f"{kind} for a test")


def rotate(agent_id: str, grace_us: int = 0, key: NewKey | None = None) -> RotateKey:
    return RotateKey(agent_id=agent_id, key=key or new_key(), grace_us=grace_us, actor="carol", approver="bob",
                     reason="routine rotation")
