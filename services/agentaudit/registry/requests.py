"""Change requests and the rules that turn one into the agent's next definition. No I/O.

A request says what an operator wants (register, suspend, reactivate,
retire, rotate a key) and who asks and approves. resulting_definition()
checks it against the agent's current definition and the registry's keys and
returns the complete definition that would follow, or raises RegistryRefusal
saying why not. The store calls it with the registry's head, inside its
transaction, so the check and the write see the same registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache

from agentaudit.codec import load_schemas
from agentaudit.crypto.seal import OVERHEAD as SEAL_OVERHEAD
from agentaudit.keyring import ed25519_key_id
from agentaudit.registry.change import ChangeKind
from agentaudit.registry.errors import RegistryRefusal
from agentaudit.registry.model import AgentDefinition, AgentKey, AgentStatus, KeyAlgorithm, Scope

AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
HMAC_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
ED25519_PUBLIC_KEY_SIZE = 32
HMAC_SECRET_MIN = 32  # bytes: the full strength of SHA-256


@dataclass(frozen=True)
class NewKey:
    """A key to add: the Ed25519 public key, or the HMAC secret already sealed for this agent and key id."""

    key_id: str
    algorithm: KeyAlgorithm
    material: bytes


@dataclass(frozen=True, kw_only=True)
class ChangeRequest:
    agent_id: str
    actor: str
    approver: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Register(ChangeRequest):
    name: str
    owner: str
    environment: str
    tenant_id: str
    principals: tuple[str, ...]
    scope: Scope
    key: NewKey


@dataclass(frozen=True, kw_only=True)
class SetStatus(ChangeRequest):
    kind: ChangeKind  # SUSPEND, REACTIVATE or RETIRE


@dataclass(frozen=True, kw_only=True)
class RotateKey(ChangeRequest):
    key: NewKey
    grace_us: int = 0  # how long keys valid now stay valid after the rotation


# Which status each status change needs, and what it leads to.
_TRANSITIONS: dict[ChangeKind, tuple[frozenset[AgentStatus], AgentStatus]] = {
    ChangeKind.SUSPEND: (frozenset({AgentStatus.ACTIVE}), AgentStatus.SUSPENDED),
    ChangeKind.REACTIVATE: (frozenset({AgentStatus.SUSPENDED}), AgentStatus.ACTIVE),
    ChangeKind.RETIRE: (frozenset({AgentStatus.ACTIVE, AgentStatus.SUSPENDED}), AgentStatus.RETIRED),
}


@cache
def _agent_action_symbols(field: str) -> frozenset[str]:
    """Enum symbols of an AgentAction field, so declared scope uses the events' own vocabulary."""
    raw = load_schemas().latest("AgentAction").raw
    node = next(f for f in raw["fields"] if f["name"] == field)["type"]
    if field == "principal":
        node = next(f for f in node["fields"] if f["name"] == "type")["type"]
    return frozenset(node["symbols"])


def principal_types() -> frozenset[str]:
    return _agent_action_symbols("principal") - {"unknown"}


def action_types() -> frozenset[str]:
    return _agent_action_symbols("action_type")


def kind_of(request: ChangeRequest) -> ChangeKind:
    if isinstance(request, Register):
        return ChangeKind.REGISTER
    if isinstance(request, RotateKey):
        return ChangeKind.ROTATE_KEY
    if isinstance(request, SetStatus):
        return request.kind
    raise TypeError(f"unknown change request {type(request).__name__}")


def resulting_definition(
    request: ChangeRequest, current: AgentDefinition | None, at_us: int, key_owners: Mapping[str, str]
) -> AgentDefinition:
    """The agent's complete definition after request takes effect at at_us.

    current: the agent's definition now (None if never registered);
    key_owners: every key id ever registered -> its agent (key ids are never
    shared or reused, so one key always names one agent).
    """
    _check_approval(request)
    if isinstance(request, Register):
        if current is not None:
            raise RegistryRefusal("agent_exists", f"agent {request.agent_id} is registered already (status "
                                  f"{current.status}); an agent id is never registered twice, even after retirement")
        return _registration(request, at_us, key_owners)
    if current is None:
        raise RegistryRefusal("unknown_agent", f"no agent {request.agent_id} in the registry; register it first")
    if isinstance(request, RotateKey):
        return _rotation(request, current, at_us, key_owners)
    if isinstance(request, SetStatus):
        return _status_change(request, current, at_us)
    raise TypeError(f"unknown change request {type(request).__name__}")


def _check_approval(request: ChangeRequest) -> None:
    for field in ("actor", "approver", "reason"):
        if not getattr(request, field).strip():
            raise RegistryRefusal("missing_field", f"--{field} is required: every registry change records who made "
                                  "it, who approved it and why (CC8.1)")
    if request.actor.strip().casefold() == request.approver.strip().casefold():
        raise RegistryRefusal("separation_of_duties", f"{request.actor} cannot approve their own change: the approver "
                              "must be someone other than the actor (separation of duties, CC8.1)")
    if not AGENT_ID.match(request.agent_id):
        raise RegistryRefusal("invalid_field", f"agent id {request.agent_id!r} must be 1-128 letters, digits and "
                              "._:@- starting with a letter or digit")


def _registration(request: Register, at_us: int, key_owners: Mapping[str, str]) -> AgentDefinition:
    for field in ("name", "owner", "environment", "tenant_id"):
        if not getattr(request, field).strip():
            raise RegistryRefusal("missing_field", f"{field.replace('_id', '')} is required to register an agent")
    principals = _principals(request.principals)
    _check_scope(request.scope)
    key = _new_key(request.agent_id, request.key, at_us, key_owners)
    return AgentDefinition(
        agent_id=request.agent_id,
        name=request.name.strip(),
        owner=request.owner.strip(),
        environment=request.environment.strip(),
        tenant_id=request.tenant_id.strip(),
        principals=principals,
        scope=request.scope,
        keys=(key,),
        status=AgentStatus.ACTIVE,
        valid_from_us=at_us,
        version=1,
    )


def _principals(principals: tuple[str, ...]) -> tuple[str, ...]:
    if not principals:
        raise RegistryRefusal("missing_field", "declare at least one principal the agent may act for "
                              "(--principal TYPE:ID, e.g. user:alice or service:*)")
    allowed = principal_types()
    for principal in principals:
        kind, _, ident = principal.partition(":")
        if kind not in allowed or not ident.strip():
            raise RegistryRefusal("invalid_field", f"principal {principal!r} must be TYPE:ID with TYPE one of "
                                  f"{', '.join(sorted(allowed))} and a non-empty ID (or * for any)")
    return tuple(dict.fromkeys(principals))  # without repeats, in the order given


def _check_scope(scope: Scope) -> None:
    unknown = sorted(set(scope.action_types) - action_types())
    if unknown:
        raise RegistryRefusal("invalid_field", f"unknown action type(s) {', '.join(unknown)}; the events' action "
                              f"types are {', '.join(sorted(action_types()))}")
    for name, values in (("tool", scope.tools), ("resource", scope.resource_patterns),
                         ("data class", scope.data_classes)):
        if any(not value.strip() for value in values):
            raise RegistryRefusal("invalid_field", f"an empty {name} was declared in the scope")


def _new_key(agent_id: str, key: NewKey, at_us: int, key_owners: Mapping[str, str]) -> AgentKey:
    if key.algorithm is KeyAlgorithm.ED25519:
        if len(key.material) != ED25519_PUBLIC_KEY_SIZE or ed25519_key_id(key.material) != key.key_id:
            raise RegistryRefusal("invalid_field", f"key {key.key_id} is not a 32-byte Ed25519 public key "
                                  "with its own key id")
    elif not HMAC_KEY_ID.match(key.key_id) or len(key.material) < HMAC_SECRET_MIN + SEAL_OVERHEAD:
        raise RegistryRefusal("invalid_field", f"HMAC key {key.key_id} must have a 16-hex-digit id and a sealed "
                              f"secret of at least {HMAC_SECRET_MIN} bytes")
    owner = key_owners.get(key.key_id)
    if owner is not None:
        whose = "this agent" if owner == agent_id else f"agent {owner}"
        raise RegistryRefusal("key_in_use", f"key {key.key_id} is registered already for {whose}; an agent identity "
                              "is never shared and a key is never reused: generate a new key")
    return AgentKey(key.key_id, key.algorithm, key.material, valid_from_us=at_us)


def _rotation(request: RotateKey, current: AgentDefinition, at_us: int, key_owners: Mapping[str, str]) -> AgentDefinition:
    if current.status is AgentStatus.RETIRED:
        raise RegistryRefusal("wrong_status", f"agent {current.agent_id} is retired; a retired agent gets no new keys")
    if request.grace_us < 0:
        raise RegistryRefusal("invalid_field", "--grace cannot be negative")
    new = _new_key(current.agent_id, request.key, at_us, key_owners)
    ends = at_us + request.grace_us
    kept = tuple(_ended(key, ends) for key in current.keys if _still_listed(key, at_us))
    return _next(current, at_us, kept + (new,), current.status)


def _status_change(request: SetStatus, current: AgentDefinition, at_us: int) -> AgentDefinition:
    needs, becomes = _TRANSITIONS[request.kind]
    if current.status not in needs:
        raise RegistryRefusal("wrong_status", f"cannot {request.kind} agent {current.agent_id}: it is "
                              f"{current.status} (needs {' or '.join(sorted(needs))})")
    keys = tuple(key for key in current.keys if _still_listed(key, at_us))
    if becomes is AgentStatus.RETIRED:  # final: every key ends with the identity
        keys = tuple(_ended(key, at_us) for key in keys)
    return _next(current, at_us, keys, becomes)


def _still_listed(key: AgentKey, at_us: int) -> bool:
    """Keys that expired before a change are left out of the definition it makes.

    Earlier definitions keep them, and as-of answers for earlier times come
    from those, so nothing is lost; the definition does not grow forever.
    """
    return key.valid_until_us is None or key.valid_until_us >= at_us


def _ended(key: AgentKey, at_us: int) -> AgentKey:
    if key.valid_until_us is not None and key.valid_until_us <= at_us:
        return key
    return replace(key, valid_until_us=at_us)


def _next(current: AgentDefinition, at_us: int, keys: tuple[AgentKey, ...], status: AgentStatus) -> AgentDefinition:
    return replace(current, keys=keys, status=status, valid_from_us=at_us, version=current.version + 1)
