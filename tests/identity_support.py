"""Registered agent identities for tests that run actions through attribution
without a registry topic: one Ed25519 test key shared by every test agent."""

from __future__ import annotations

from typing import Any

from agentaudit.registry.model import AgentDefinition, AgentKey, AgentStatus, KeyAlgorithm, RegistryView, Scope
from agentaudit.signing import Ed25519Signer, sign_action

SIGNER = Ed25519Signer.from_private_bytes("test-ed25519", bytes(range(32)))


def definition(agent_id: str, tenant_id: str = "acme") -> AgentDefinition:
    return AgentDefinition(
        agent_id=agent_id, name=agent_id, owner="tests", environment="test", tenant_id=tenant_id,
        principals=("user:*",), scope=Scope(),
        keys=(AgentKey(SIGNER.key_id, KeyAlgorithm.ED25519, SIGNER.public_key_bytes(), 0),),
        status=AgentStatus.ACTIVE, valid_from_us=0,
    )


class StaticRegistry:
    """A registry that is already complete: the handler's sync() has nothing to read."""

    def __init__(self, *agent_ids: str) -> None:
        self.view = RegistryView()
        self.view.extend(definition(a) for a in agent_ids)

    def sync(self, timeout_s: float | None = None) -> int:
        return 0


class NoSecrets:
    """For registries without HMAC agents."""

    def open(self, agent_id: str, key: AgentKey) -> bytes:
        raise AssertionError(f"no HMAC secret expected for {agent_id}/{key.key_id}")


def signed(action: dict[str, Any]) -> dict[str, Any]:
    return sign_action(action, SIGNER)
