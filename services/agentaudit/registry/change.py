"""A registry change as stored: the resulting definition, who made and approved it, its chain link."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from agentaudit.registry.model import AgentDefinition


class ChangeKind(enum.StrEnum):
    REGISTER = "register"
    SUSPEND = "suspend"
    REACTIVATE = "reactivate"
    RETIRE = "retire"
    ROTATE_KEY = "rotate_key"


@dataclass(frozen=True)
class RegistryChange:
    """One entry of agent.registry (schemas/avro/RegistryChange.v1.avsc).

    definition is the agent's complete definition after the change, so
    readers never fold deltas. hash chains the entry to the one before;
    signature is the pipeline keyring's over hash (agentaudit.registry.canonical).
    """

    change_id: str
    position: int
    kind: ChangeKind
    definition: AgentDefinition
    actor: str
    approver: str
    reason: str
    valid_from_us: int
    prev_hash: bytes
    hash: bytes = b""
    signing_key_id: str = ""
    signature: bytes = b""

    @property
    def agent_id(self) -> str:
        return self.definition.agent_id
