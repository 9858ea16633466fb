"""deploy/clickhouse/users.d/agentaudit.xml read the way ClickHouse reads it: accounts, profiles, grants."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tests.unit.deploy.compose_support import CLICKHOUSE_USERS_FILE

_GRANT = re.compile(
    r"^\s*GRANT\s+(?P<privileges>.+?)\s+ON\s+`?(?P<database>\w+)`?\.`?(?P<table>\w+)`?\s*$", re.I | re.S
)
_PRIVILEGE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z ]*?)\s*(?:\((?P<columns>[^()]*)\))?$")


@dataclass(frozen=True)
class Grant:
    privilege: str  # upper case, e.g. "SELECT"
    columns: frozenset[str] | None  # None: every column of the table
    database: str
    table: str


def parse_grant(query: str) -> list[Grant]:
    """The privileges one <query> grants; fails on anything but `GRANT priv[(cols)], ... ON db.table`.

    Fail-closed on purpose: REVOKE, WITH GRANT OPTION, a grantee, a role, a
    wildcard database or table do not parse, so they cannot slip past the
    checks that use it.
    """
    match = _GRANT.match(query)
    assert match, f"not a plain `GRANT ... ON db.table`: {query!r}"
    out = []
    for part in re.split(r",(?![^()]*\))", match["privileges"]):
        privilege = _PRIVILEGE.match(part.strip())
        assert privilege, f"unreadable privilege {part!r} in {query!r}"
        columns = privilege["columns"]
        out.append(Grant(
            " ".join(privilege["name"].upper().split()),
            frozenset(c.strip().strip("`") for c in columns.split(",")) if columns is not None else None,
            match["database"],
            match["table"],
        ))  # fmt: skip
    return out


def parse_users() -> tuple[dict[str, ET.Element], dict[str, ET.Element]]:
    """(accounts, settings profiles) by name."""
    root = ET.parse(CLICKHOUSE_USERS_FILE).getroot()
    users, profiles = root.find("users"), root.find("profiles")
    assert users is not None and profiles is not None
    return {u.tag: u for u in users if u.get("remove") is None}, {p.tag: p for p in profiles}


def grants_of(user: ET.Element) -> set[Grant]:
    return {g for q in user.iterfind("grants/query") for g in parse_grant(q.text or "")}
