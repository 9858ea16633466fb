"""API keys in ClickHouse (api_keys, schemas/clickhouse/0008): create, revoke, list, authenticate.

The table is append-only: a key's state is computed from its rows on every
read, and a revocation is a row of its own, final once written. Authentication
reads the key's rows on every request (a point lookup on the sort key, about a
millisecond), so a revocation takes effect on the next request everywhere,
with no cache to wait out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.api import keys
from agentaudit.api.access import ALL_TENANTS, Caller, Role
from agentaudit.errors import ConfigError
from agentaudit.evidence.formats import iso_us
from agentaudit.query.timeparse import from_micros
from agentaudit.store.client import translate_errors

_COLUMNS = ("key_id", "change", "name", "role", "tenants", "agent_id", "secret_hash", "expires_at",
            "changed_at", "actor", "reason")

_STATE = """
SELECT key_id,
       anyIf(name, change = 'created') AS name,
       anyIf(role, change = 'created') AS role,
       anyIf(tenants, change = 'created') AS tenants,
       anyIf(agent_id, change = 'created') AS agent_id,
       anyIf(secret_hash, change = 'created') AS secret_hash,
       toUnixTimestamp64Micro(anyIf(expires_at, change = 'created')) AS expires_us,
       toUnixTimestamp64Micro(minIf(changed_at, change = 'created')) AS created_us,
       anyIf(actor, change = 'created') AS created_by,
       countIf(change = 'revoked') > 0 AS revoked,
       toUnixTimestamp64Micro(minIf(changed_at, change = 'revoked')) AS revoked_us,
       anyIf(actor, change = 'revoked') AS revoked_by,
       anyIf(reason, change = 'revoked') AS revoke_reason
FROM {database:Identifier}.api_keys
"""
_STATE_COLUMNS = ("key_id", "name", "role", "tenants", "agent_id", "secret_hash", "expires_us", "created_us",
                  "created_by", "revoked", "revoked_us", "revoked_by", "revoke_reason")


class Unauthenticated(Exception):
    """No usable key was presented; the message says which problem (HTTP 401)."""


@dataclass(frozen=True)
class KeyState:
    """A key as its rows leave it (never its secret)."""

    key_id: str
    name: str
    role: Role
    tenants: tuple[str, ...]
    agent_id: str
    expires_us: int | None
    created_us: int
    created_by: str
    revoked: bool
    revoked_us: int | None
    revoked_by: str
    revoke_reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id, "name": self.name, "role": self.role.value, "tenants": list(self.tenants),
            "agent_id": self.agent_id or None, "created_at": _iso(self.created_us), "created_by": self.created_by,
            "expires_at": _iso(self.expires_us), "status": "revoked" if self.revoked else "active",
            "revoked_at": _iso(self.revoked_us), "revoked_by": self.revoked_by or None,
            "revoke_reason": self.revoke_reason or None,
        }


def _iso(us: int | None) -> str | None:
    return None if us is None else iso_us(us)


def _now_us() -> int:
    return time.time_ns() // 1000


def _state(row: dict[str, Any]) -> tuple[KeyState, str]:
    state = KeyState(
        key_id=row["key_id"], name=row["name"], role=Role(row["role"]), tenants=tuple(row["tenants"]),
        agent_id=row["agent_id"], expires_us=row["expires_us"], created_us=int(row["created_us"]),
        created_by=row["created_by"], revoked=bool(row["revoked"]),
        revoked_us=int(row["revoked_us"]) if row["revoked"] else None, revoked_by=row["revoked_by"],
        revoke_reason=row["revoke_reason"],
    )
    return state, row["secret_hash"]


def validate_grant(role: Role, tenants: tuple[str, ...], agent_id: str) -> None:
    """The shape every key must have, whoever creates it."""
    if not tenants:
        raise ConfigError("a key needs at least one tenant (or '*' for every tenant)")
    if ALL_TENANTS in tenants and len(tenants) > 1:
        raise ConfigError("'*' already means every tenant; give it alone")
    if role is Role.AGENT:
        if not agent_id or len(tenants) != 1 or ALL_TENANTS in tenants:
            raise ConfigError("an agent key emits for exactly one agent of one tenant: give --agent and one --tenant")
    elif agent_id:
        raise ConfigError("only agent keys are bound to an agent")
    if any(not t or len(t) > 256 or "," in t for t in tenants):
        # A comma would split one tenant into two in the server's row filters (SQL_agentaudit_tenants).
        raise ConfigError("tenant ids are 1 to 256 characters, without commas")


class KeyStore:
    """Keys of one database, through one client (not safe to share across threads)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._database = database

    def create(self, name: str, role: Role, tenants: tuple[str, ...], actor: str, agent_id: str = "",
               expires_us: int | None = None, reason: str = "") -> tuple[KeyState, str]:
        """A new key: (its state, the whole key, which is shown once and never stored)."""
        if not name.strip():
            raise ConfigError("a key needs a name: who or what will hold it")
        validate_grant(role, tenants, agent_id)
        key_id, presented = keys.new_key()
        _, secret = keys.parse(presented)
        now = _now_us()
        if expires_us is not None and expires_us <= now:
            raise ConfigError("the expiry must be in the future")
        self._insert([key_id, "created", name, role.value, list(tenants), agent_id, keys.secret_hash(key_id, secret),
                      _dt(expires_us), _dt(now), actor, reason])
        state = self.get(key_id)
        assert state is not None, "a key just written must read back"
        return state, presented

    def revoke(self, key_id: str, actor: str, reason: str) -> KeyState:
        state = self.get(key_id)
        if state is None:
            raise KeyError(key_id)
        if state.revoked:
            return state
        if not reason.strip():
            raise ConfigError("say why the key is revoked (--reason)")
        self._insert([key_id, "revoked", "", state.role.value, [], "", "", None, _dt(_now_us()), actor, reason])
        revoked = self.get(key_id)
        assert revoked is not None
        return revoked

    def get(self, key_id: str) -> KeyState | None:
        found = self._states(" WHERE key_id = {key_id:String} GROUP BY key_id", {"key_id": key_id})
        return found[0][0] if found else None

    def all(self, tenants: tuple[str, ...] | None) -> list[KeyState]:
        """Every key, or those sharing a tenant with `tenants` (None: all)."""
        states = [s for s, _ in self._states(" GROUP BY key_id ORDER BY created_us", {})]
        if tenants is None:
            return states
        return [s for s in states if ALL_TENANTS not in s.tenants and set(s.tenants) <= set(tenants)]

    def authenticate(self, presented: str) -> Caller:
        """The caller a presented key stands for; Unauthenticated saying why not."""
        try:
            key_id, secret = keys.parse(presented)
        except keys.MalformedKey as exc:
            raise Unauthenticated(str(exc)) from None
        found = self._states(" WHERE key_id = {key_id:String} GROUP BY key_id", {"key_id": key_id})
        # Same answer for an unknown id and a wrong secret: the caller learns
        # nothing about which key ids exist.
        if not found or not keys.matches(key_id, secret, found[0][1]):
            raise Unauthenticated(f"unknown API key {key_id} or wrong secret")
        state = found[0][0]
        if state.revoked:
            raise Unauthenticated(f"API key {key_id} was revoked at {_iso(state.revoked_us)} by {state.revoked_by}: "
                                  f"{state.revoke_reason}")
        if state.expires_us is not None and state.expires_us <= _now_us():
            raise Unauthenticated(f"API key {key_id} expired at {_iso(state.expires_us)}")
        return Caller(state.key_id, state.name, state.role, state.tenants, state.agent_id)

    def _states(self, tail: str, params: dict[str, Any]) -> list[tuple[KeyState, str]]:
        with translate_errors("reading API keys"):
            result = self._client.query(_STATE + tail, parameters={"database": self._database, **params})
        return [_state(dict(zip(_STATE_COLUMNS, row, strict=True))) for row in result.result_rows]

    def _insert(self, row: list[Any]) -> None:
        with translate_errors("writing an API key change"):
            self._client.insert("api_keys", [row], database=self._database, column_names=list(_COLUMNS))


def _dt(us: int | None) -> datetime | None:
    return None if us is None else from_micros(us)
