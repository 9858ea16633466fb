"""The registry as a verified sequence of changes, folded into a RegistryView. No I/O.

RegistryLog.append() is the only way in: each entry must sit at the next
position, link to the previous entry's hash, hash to what it says, carry a
valid signature by a known pipeline key, and make sense after the entries
before it. The first entry that does not raises RegistryIntegrityError naming
its position, and the log accepts nothing after it: a reader never skips an
entry. RegistryLog.prepare() builds and signs the next entry for a request.
The Kafka side (agentaudit.registry.store) only moves bytes in and out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NoReturn, Protocol

from agentaudit.keyring import verify_signature
from agentaudit.registry.canonical import GENESIS, entry_hash, signed_message
from agentaudit.registry.change import ChangeKind, RegistryChange
from agentaudit.registry.errors import RegistryIntegrityError
from agentaudit.registry.model import AgentDefinition, RegistryView
from agentaudit.registry.requests import ChangeRequest, kind_of, resulting_definition


class Signer(Protocol):
    """What signs entries: agentaudit.keyring.Keyring in production."""

    def sign(self, data: bytes) -> tuple[str, bytes]: ...


@dataclass(frozen=True)
class RegistryHead:
    """The newest verified entry: where the next one must link."""

    position: int = 0
    hash: bytes = GENESIS
    valid_from_us: int = 0


class RegistryLog:
    """Verified registry entries in order, and what they add up to.

    public_keys: pipeline key id -> raw Ed25519 public key (Keyring.public_keys()
    or an exported file); an entry signed by a key not in it does not verify.
    Assign a fresh mapping after the keyring rotates.
    """

    def __init__(self, public_keys: Mapping[str, bytes]) -> None:
        self.public_keys = public_keys
        self.view = RegistryView()
        self.head = RegistryHead()
        self.changes: list[RegistryChange] = []
        self._current: dict[str, AgentDefinition] = {}
        self._by_agent: dict[str, list[RegistryChange]] = {}
        self._by_id: dict[str, RegistryChange] = {}
        self._key_owners: dict[str, str] = {}
        self._broken: RegistryIntegrityError | None = None

    # -- reading -------------------------------------------------------------

    @property
    def broken(self) -> RegistryIntegrityError | None:
        """The error of the first entry that did not verify; nothing is accepted after it."""
        return self._broken

    def append(self, change: RegistryChange) -> None:
        """Verify change as the next entry and apply it; RegistryIntegrityError if it does not verify."""
        if self._broken is not None:
            raise self._broken
        problem = self._problem(change)
        if problem is not None:
            self.fail(problem, change.position if change.position == self.head.position + 1 else None)
        self._apply(change)

    def fail(self, problem: str, position: int | None = None) -> NoReturn:
        """Record that the entry after the head does not verify, and raise; every later append raises too."""
        self._broken = RegistryIntegrityError(self.head.position + 1 if position is None else position, problem)
        raise self._broken

    def _problem(self, change: RegistryChange) -> str | None:
        head = self.head
        if change.position != head.position + 1:
            return (f"found position {change.position} where {head.position + 1} belongs: entries are missing, "
                    "repeated or out of order")
        if change.prev_hash != head.hash:
            return "prev_hash is not the hash of the entry before it: an entry was removed, inserted or rewritten"
        if entry_hash(change) != change.hash:
            return ("its contents do not match its hash: the entry was altered after it was written "
                    "(a field changed, e.g. a key swapped)")
        if change.signing_key_id not in self.public_keys:
            return (f"signed by pipeline key {change.signing_key_id!r}, which is not among the public keys given "
                    f"({', '.join(sorted(self.public_keys)) or 'none'})")
        if not verify_signature(self.public_keys, change.signing_key_id, signed_message(change.hash), change.signature):
            return f"the signature by pipeline key {change.signing_key_id} does not verify: the entry was forged"
        return self._inconsistency(change)

    def _inconsistency(self, change: RegistryChange) -> str | None:
        """What a correctly signed entry can still get wrong relative to the entries before it."""
        definition, previous = change.definition, self._current.get(change.agent_id)
        if change.valid_from_us <= self.head.valid_from_us or definition.valid_from_us != change.valid_from_us:
            return "its time is not after the previous entry's"
        if (change.kind is ChangeKind.REGISTER) != (previous is None):
            return f"{change.kind} of agent {change.agent_id}, which is {'new' if previous is None else 'registered'}"
        if definition.version != (1 if previous is None else previous.version + 1):
            return f"agent {change.agent_id} jumps to version {definition.version}"
        for key in definition.keys:
            owner = self._key_owners.get(key.key_id, change.agent_id)
            if owner != change.agent_id:
                return f"key {key.key_id} of agent {change.agent_id} belongs to agent {owner}"
        return None

    def _apply(self, change: RegistryChange) -> None:
        self.view.add(change.definition)
        self.changes.append(change)
        self._current[change.agent_id] = change.definition
        self._by_agent.setdefault(change.agent_id, []).append(change)
        self._by_id[change.change_id] = change
        for key in change.definition.keys:
            self._key_owners[key.key_id] = change.agent_id
        self.head = RegistryHead(change.position, change.hash, change.valid_from_us)

    def current(self, agent_id: str) -> AgentDefinition | None:
        """The agent's newest definition (whatever the clock says), or None."""
        return self._current.get(agent_id)

    def change(self, change_id: str) -> RegistryChange | None:
        return self._by_id.get(change_id)

    def changes_of(self, agent_id: str) -> list[RegistryChange]:
        return list(self._by_agent.get(agent_id, ()))

    def change_at(self, agent_id: str, at_us: int) -> RegistryChange | None:
        """The change whose definition was in effect for agent_id at at_us."""
        found = None
        for change in self._by_agent.get(agent_id, ()):
            if change.valid_from_us > at_us:
                break
            found = change
        return found

    # -- writing -------------------------------------------------------------

    def prepare(self, request: ChangeRequest, signer: Signer, now_us: int, change_id: str) -> RegistryChange:
        """The signed entry that applies request after the head; RegistryRefusal if the rules forbid it.

        Its time is now_us, or just after the head's if the clock is behind
        it, so times strictly increase along the registry.
        """
        at_us = max(now_us, self.head.valid_from_us + 1)
        definition = resulting_definition(request, self._current.get(request.agent_id), at_us, self._key_owners)
        unsigned = RegistryChange(
            change_id=change_id,
            position=self.head.position + 1,
            kind=kind_of(request),
            definition=definition,
            actor=request.actor.strip(),
            approver=request.approver.strip(),
            reason=request.reason.strip(),
            valid_from_us=at_us,
            prev_hash=self.head.hash,
        )
        digest = entry_hash(unsigned)
        key_id, signature = signer.sign(signed_message(digest))
        return replace(unsigned, hash=digest, signing_key_id=key_id, signature=signature)
