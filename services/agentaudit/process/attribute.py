"""Attribution: proves which registered agent identity an action belongs to. No I/O.

attribute() either returns the agent's registry definition in effect at the
action's ingest time, or raises AttributionError with a stable code and a
reason an operator can act on. The caller rejects the action with that code
(keeping its bytes, like every rejection) and raises an incident
(agentaudit.process.incidents).

Time is always the pipeline's ingest time (invariant 6): the registry is asked
"as of ingest time", and a key counts only if that time lies in its validity
window. The agent's own agent_time plays no part, so an agent cannot pick the
clock its key is judged by, and a replay after a crash answers exactly as the
first run (RegistryView.as_of ignores later changes).

Order of the checks, and why:

1. unknown_agent -- nothing to check against.
2. unsigned, unknown_key, bad_signature -- proof of origin first. Until the
   signature verifies, nothing in the action is the agent's word, so a
   forgery in the name of a suspended agent is reported as a forgery
   (critical), not as a suspended agent acting.
3. agent_retired, agent_suspended, tenant_mismatch -- after the signature, so
   these always mean the genuine agent acted against its registration.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, Protocol

from agentaudit.errors import AttributionError
from agentaudit.registry.model import AgentDefinition, AgentKey, AgentStatus, KeyAlgorithm, RegistryView
from agentaudit.signing.canonical import canonical_bytes
from agentaudit.signing.verify import verify


class SecretOpener(Protocol):
    """Turns a registered HMAC key into its plaintext secret.

    The registry stores HMAC secrets sealed under the key-encryption key
    (AgentKey.material); an opener unseals one. It may raise TransientError
    when the KEK's store does not answer (the batch is retried, not
    rejected). Wrap it in CachingSecretOpener so each secret is unsealed once.
    """

    def open(self, agent_id: str, key: AgentKey) -> bytes: ...


class CachingSecretOpener:
    """Keeps unsealed HMAC secrets in memory (never on disk, never in a repr).

    Cached by (agent id, key id, sealed material): a key re-sealed or replaced
    under the same id is a different entry, so a stale secret is never used.
    Bounded, least recently used out. Thread-safe.
    """

    def __init__(self, inner: SecretOpener, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._inner = inner
        self._max = max_entries
        self._secrets: OrderedDict[tuple[str, str, bytes], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, agent_id: str, key: AgentKey) -> bytes:
        cache_key = (agent_id, key.key_id, key.material)
        with self._lock:
            secret = self._secrets.get(cache_key)
            if secret is not None:
                self._secrets.move_to_end(cache_key)
                return secret
        secret = self._inner.open(agent_id, key)  # outside the lock: it may be slow
        with self._lock:
            self._secrets[cache_key] = secret
            if len(self._secrets) > self._max:
                self._secrets.popitem(last=False)
        return secret

    def __len__(self) -> int:
        return len(self._secrets)

    def __repr__(self) -> str:
        return f"CachingSecretOpener({len(self._secrets)} secrets cached)"


def attribute(action: Mapping[str, Any], view: RegistryView, ingest_us: int, secrets: SecretOpener) -> AgentDefinition:
    """The definition of the agent that provably emitted action, as of ingest_us.

    Raises AttributionError (codes: unknown_agent, unsigned, unknown_key,
    bad_signature, agent_retired, agent_suspended, tenant_mismatch). Errors of
    the opener (e.g. TransientError) pass through unchanged.
    """
    agent_id = str(action["agent_id"])
    definition = view.as_of(agent_id, ingest_us)
    if definition is None:
        raise AttributionError(
            "unknown_agent",
            f"agent {agent_id!r} is not registered as of ingest time {_when(ingest_us)}: "
            "register it before it emits, or correct the agent_id its runtime is configured with",
        )
    tenant = definition.tenant_id
    key_id, signature = action.get("key_id"), action.get("signature")
    if not key_id or not signature:
        missing = " and ".join(name for name, value in (("key_id", key_id), ("signature", signature)) if not value)
        raise AttributionError(
            "unsigned",
            f"action of agent {agent_id!r} has no {missing}: every action must be signed "
            "(give its Emitter a signer with one of the agent's registered keys)",
            registered_tenant_id=tenant,
        )
    key = definition.key(key_id, ingest_us)
    if key is None:
        raise AttributionError("unknown_key", _unknown_key_reason(definition, key_id, ingest_us), registered_tenant_id=tenant)
    _check_signature(action, agent_id, key, signature, secrets, tenant)
    if definition.status is not AgentStatus.ACTIVE:
        _refuse_inactive(definition, key_id)
    if action["tenant_id"] != tenant:
        raise AttributionError(
            "tenant_mismatch",
            f"action claims tenant {action['tenant_id']!r} but agent {agent_id!r} is registered to tenant {tenant!r}: "
            "correct the runtime's tenant_id, or register the agent for that tenant",
            registered_tenant_id=tenant,
        )
    return definition


def _refuse_inactive(definition: AgentDefinition, key_id: str) -> NoReturn:
    agent_id, tenant = definition.agent_id, definition.tenant_id
    since = f"since {_when(definition.valid_from_us)} (registry version {definition.version})"
    if definition.status is AgentStatus.RETIRED:
        raise AttributionError(
            "agent_retired",
            f"agent {agent_id!r} is retired {since} but signed an action with key {key_id!r}: "
            "a retired identity never acts again; find the runtime still holding its key, stop it and revoke the key",
            registered_tenant_id=tenant,
        )
    if definition.status is AgentStatus.SUSPENDED:
        raise AttributionError(
            "agent_suspended",
            f"agent {agent_id!r} is suspended {since} but its runtime kept acting: "
            "stop the runtime, or reactivate the agent in the registry if the suspension is over",
            registered_tenant_id=tenant,
        )
    raise AssertionError(f"unhandled agent status {definition.status!r}")  # a new AgentStatus needs a rule here


def _check_signature(
    action: Mapping[str, Any], agent_id: str, key: AgentKey, signature: bytes, secrets: SecretOpener, tenant: str
) -> None:
    try:
        data = canonical_bytes(action)
    except ValueError as exc:
        raise AttributionError(
            "bad_signature", f"action of agent {agent_id!r} cannot have been signed: {exc}", registered_tenant_id=tenant
        ) from None
    material = secrets.open(agent_id, key) if key.algorithm is KeyAlgorithm.HMAC_SHA256 else key.material
    try:
        valid = verify(key.algorithm, material, data, signature)
    except ValueError as exc:
        # The registry's fault, not the input's; still no proof of origin, so reject.
        raise AttributionError(
            "unknown_key",
            f"key {key.key_id!r} of agent {agent_id!r} is registered with unusable material ({exc}): re-register the key",
            registered_tenant_id=tenant,
        ) from None
    if not valid:
        raise AttributionError(
            "bad_signature",
            f"signature does not verify with key {key.key_id!r} ({key.algorithm}) of agent {agent_id!r}: "
            "the action was altered after signing, or was not signed with this key",
            registered_tenant_id=tenant,
        )


def _unknown_key_reason(definition: AgentDefinition, key_id: str, ingest_us: int) -> str:
    """Why no key with this id is valid at ingest time; only the as-of definition
    is consulted, so the reason is the same on every replay."""
    agent, at = definition.agent_id, _when(ingest_us)
    same_id = [k for k in definition.keys if k.key_id == key_id]
    if not same_id:
        return (
            f"agent {agent!r} has no key {key_id!r} (registry version {definition.version}, ingest time {at}): "
            "register the key, or configure the runtime with one of the agent's keys"
        )
    reasons = []
    for key in same_id:
        if key.valid_from_us > ingest_us:
            reasons.append(
                f"key {key_id!r} of agent {agent!r} is not valid until {_when(key.valid_from_us)} (ingest time {at}): "
                "the runtime switched to it before its validity began"
            )
        else:
            reasons.append(
                f"key {key_id!r} of agent {agent!r} expired at {_when(key.valid_until_us or 0)} (ingest time {at}): "
                "the runtime still signs with a rotated-out key; give it the current one"
            )
    return "; ".join(reasons)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _when(us: int) -> str:
    """ISO 8601 UTC, exact to the microsecond (no float on the way)."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat(timespec="microseconds").replace("+00:00", "Z")
