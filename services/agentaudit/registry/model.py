"""The agent registry's data model: who an agent is, what it may do, its keys. No I/O.

An agent's definition is never edited in place. Every change (register,
suspend, reactivate, retire, rotate-key) yields a new AgentDefinition that
takes effect at the change's time; the history of definitions is append-only,
so "what was agent X allowed to do, and which key was valid, on date D?" has
one answer: `RegistryView.as_of(X, D)`.

Times are microseconds since the epoch (UTC), as in the Avro schemas.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field


class AgentStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"  # kill switch: actions are rejected until reactivated
    RETIRED = "retired"  # final: the identity is never used again


class KeyAlgorithm(enum.StrEnum):
    ED25519 = "ed25519"  # the agent holds the private key; the registry the public one
    HMAC_SHA256 = "hmac-sha256"  # shared secret, for very high-volume agents; encrypted at rest


@dataclass(frozen=True)
class AgentKey:
    """One key an agent signs with, valid in [valid_from_us, valid_until_us).

    material: the Ed25519 public key (32 raw bytes), or for HMAC the secret
    sealed with AES-256-GCM under the key-encryption key (never the secret).
    """

    key_id: str
    algorithm: KeyAlgorithm
    material: bytes
    valid_from_us: int
    valid_until_us: int | None = None

    def valid_at(self, at_us: int) -> bool:
        return self.valid_from_us <= at_us and (self.valid_until_us is None or at_us < self.valid_until_us)


@dataclass(frozen=True)
class Scope:
    """What an agent declared it does (CC6.6); empty means nothing of that kind.

    resource_patterns are shell-style globs (fnmatch), e.g. "crm://accounts/*".
    """

    action_types: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    resource_patterns: tuple[str, ...] = ()
    data_classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentDefinition:
    """An agent's identity as of one registry change."""

    agent_id: str
    name: str
    owner: str
    environment: str
    tenant_id: str
    principals: tuple[str, ...]  # "type:id" the agent may act for; "type:*" for any of a type
    scope: Scope
    keys: tuple[AgentKey, ...]
    status: AgentStatus
    valid_from_us: int  # when this definition took effect (the change's time)
    version: int = 1  # 1 for the registration, +1 per change

    def key(self, key_id: str, at_us: int) -> AgentKey | None:
        """The key with this id if it was valid at at_us."""
        for key in self.keys:
            if key.key_id == key_id and key.valid_at(at_us):
                return key
        return None


@dataclass
class RegistryView:
    """Every agent's definitions in time order; answers as-of questions.

    Fed in registry order (the agent.registry topic's order); `as_of` never
    looks at a definition that took effect after the time asked about, so a
    replay that has already seen later changes answers exactly as the first
    run did.
    """

    _history: dict[str, list[AgentDefinition]] = field(default_factory=dict)

    def add(self, definition: AgentDefinition) -> None:
        versions = self._history.setdefault(definition.agent_id, [])
        if versions and definition.valid_from_us < versions[-1].valid_from_us:
            raise ValueError(f"registry change for {definition.agent_id} goes back in time")
        versions.append(definition)

    def extend(self, definitions: Iterable[AgentDefinition]) -> None:
        for definition in definitions:
            self.add(definition)

    def as_of(self, agent_id: str, at_us: int) -> AgentDefinition | None:
        """The definition in effect at at_us, or None if the agent was not registered yet."""
        current = None
        for definition in self._history.get(agent_id, ()):
            if definition.valid_from_us > at_us:
                break
            current = definition
        return current

    def history(self, agent_id: str) -> list[AgentDefinition]:
        return list(self._history.get(agent_id, ()))

    def agents(self) -> list[str]:
        return sorted(self._history)
