"""Roles, permissions and tenant scope: who may do what, on which tenants. Pure.

Four roles, each with the least it needs (issue 5):
  admin    manages keys and reads the registry and the access log; does not
           read agents' actions (an admin is not an investigator)
  analyst  reads actions, sessions, incidents and agents; handles incidents
  auditor  reads everything an analyst reads plus the access log; read-only
  agent    emits its own actions and nothing else

Every key carries a tenant scope. Queries are always narrowed to it here, from
the key, never from the request: a request may name tenants only inside its
scope, and when it names none it gets the whole scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ALL_TENANTS = "*"


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    AGENT = "agent"


class Permission(StrEnum):
    READ_ACTIONS = "actions:read"
    READ_INCIDENTS = "incidents:read"
    HANDLE_INCIDENTS = "incidents:handle"
    READ_AGENTS = "agents:read"
    READ_ACCESS_LOG = "reads:read"
    MANAGE_KEYS = "keys:manage"
    EMIT = "actions:emit"


GRANTS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset({Permission.MANAGE_KEYS, Permission.READ_AGENTS, Permission.READ_ACCESS_LOG}),
    Role.ANALYST: frozenset({Permission.READ_ACTIONS, Permission.READ_INCIDENTS, Permission.HANDLE_INCIDENTS,
                             Permission.READ_AGENTS}),
    Role.AUDITOR: frozenset({Permission.READ_ACTIONS, Permission.READ_INCIDENTS, Permission.READ_AGENTS,
                             Permission.READ_ACCESS_LOG}),
    Role.AGENT: frozenset({Permission.EMIT}),
}


class AccessDenied(Exception):
    """The caller is known but may not do this; the message says why (HTTP 403)."""


@dataclass(frozen=True)
class Caller:
    """An authenticated key: who it is, its role and the tenants it may see."""

    key_id: str
    name: str
    role: Role
    tenants: tuple[str, ...]
    agent_id: str = ""

    @property
    def all_tenants(self) -> bool:
        return ALL_TENANTS in self.tenants

    @property
    def label(self) -> str:
        """How the caller is named in timelines and the access log."""
        return f"{self.name} (key {self.key_id}, {self.role})"

    def require(self, permission: Permission) -> None:
        if permission not in GRANTS[self.role]:
            allowed = sorted(r.value for r, grants in GRANTS.items() if permission in grants)
            raise AccessDenied(f"role {self.role} may not {permission.value.replace(':', ' ')}; "
                               f"that needs role {' or '.join(allowed)}")

    def may_see(self, tenant: str) -> bool:
        return self.all_tenants or tenant in self.tenants

    def scope(self, requested: tuple[str, ...] = ()) -> tuple[str, ...] | None:
        """The tenants a query is limited to: None means every tenant (a '*' key asking for none).

        A requested tenant outside the key's scope is refused, not silently
        dropped: an analyst who asks for another tenant's data should learn that
        the key cannot see it, not get an empty answer that looks like "nothing
        happened".
        """
        outside = [t for t in requested if not self.may_see(t)]
        if outside:
            raise AccessDenied(f"key {self.key_id} is scoped to tenant(s) {', '.join(self.tenants)}; "
                               f"{', '.join(sorted(set(outside)))} is outside it")
        if requested:
            return tuple(dict.fromkeys(requested))
        return None if self.all_tenants else self.tenants

    def may_grant(self, tenants: tuple[str, ...]) -> None:
        """Refuses a key this caller may not hand out: keys only by admins, of any role, never wider than their
        own tenant scope."""
        self.require(Permission.MANAGE_KEYS)
        if ALL_TENANTS in tenants and not self.all_tenants:
            raise AccessDenied(f"key {self.key_id} is scoped to {', '.join(self.tenants)}; "
                               "it cannot create a key for every tenant")
        self.scope(tenants)
