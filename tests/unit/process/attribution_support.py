"""A small registry for the attribution tests: an Ed25519 agent that rotates
its key, an HMAC agent whose secret is sealed under a KEK, and signed actions."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentaudit.registry.model import AgentDefinition, AgentKey, AgentStatus, KeyAlgorithm, RegistryView, Scope
from agentaudit.signing import Ed25519Signer, HmacSigner, Signer, sign_action

DAY = 86_400_000_000
T0 = 1_764_000_000_000_000  # registration
ROTATE = T0 + 10 * DAY  # ed-1 expires; ed-2 became valid a day earlier (the grace window)
GRACE = DAY

KEK = AESGCM(bytes(range(32)))
HMAC_SECRET = bytes(range(200, 232))
ED1 = Ed25519Signer.from_private_bytes("ed-1", bytes(range(32)))
ED2 = Ed25519Signer.from_private_bytes("ed-2", bytes(range(1, 33)))
HM = HmacSigner("hm-1", HMAC_SECRET)


def seal(secret: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + KEK.encrypt(nonce, secret, aad)


class KekOpener:
    """Unseals like the registry will: AES-256-GCM, bound to agent and key id."""

    def __init__(self) -> None:
        self.calls = 0

    def open(self, agent_id: str, key: AgentKey) -> bytes:
        self.calls += 1
        return KEK.decrypt(key.material[:12], key.material[12:], f"{agent_id}/{key.key_id}".encode())


def ed_agent(status: AgentStatus = AgentStatus.ACTIVE) -> AgentDefinition:
    return AgentDefinition(
        agent_id="support-bot", name="Support bot", owner="team-support", environment="prod", tenant_id="acme",
        principals=("user:*",), scope=Scope(action_types=("llm_call", "tool_call")),
        keys=(
            AgentKey("ed-1", KeyAlgorithm.ED25519, ED1.public_key_bytes(), T0, ROTATE),
            AgentKey("ed-2", KeyAlgorithm.ED25519, ED2.public_key_bytes(), ROTATE - GRACE),
        ),
        status=status, valid_from_us=T0,
    )


def hmac_agent() -> AgentDefinition:
    return AgentDefinition(
        agent_id="ingest-bot", name="Ingest bot", owner="team-data", environment="prod", tenant_id="acme",
        principals=("service:*",), scope=Scope(),
        keys=(AgentKey("hm-1", KeyAlgorithm.HMAC_SHA256, seal(HMAC_SECRET, b"ingest-bot/hm-1"), T0),),
        status=AgentStatus.ACTIVE, valid_from_us=T0,
    )


def view(*definitions: AgentDefinition) -> RegistryView:
    registry = RegistryView()
    registry.extend(definitions or (ed_agent(), hmac_agent()))
    return registry


def changed(definition: AgentDefinition, at_us: int, **changes: Any) -> AgentDefinition:
    return replace(definition, valid_from_us=at_us, version=definition.version + 1, **changes)


@dataclass(frozen=True)
class Source:
    topic: str = "agent.actions"
    partition: int = 1
    offset: int = 42


def action(agent_id: str = "support-bot", signer: Signer | None = ED1, **overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "event_id": "01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f6",
        "agent_id": agent_id,
        "session_id": "s-1",
        "sequence": 1,
        "tenant_id": "acme",
        "principal": {"type": "user", "id": "alice"},
        "action_type": "tool_call",
        "tool": "crm.lookup",
        "outcome": "success",
        "agent_time": T0 + DAY,
        "parameters": '{"customer":42}',
        "attributes": {"gen_ai.tool.name": "crm.lookup"},
        "key_id": None,
        "signature": None,
    }
    base.update(overrides)
    return sign_action(base, signer) if signer is not None else base
