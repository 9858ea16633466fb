"""Retention: the audit tables' TTLs made to match AGENTAUDIT_RETENTION_DAYS, and reported.

Every audit table expires rows by a TTL of the form
`toDateTime(<time column>) + INTERVAL <days> DAY` with ttl_only_drop_parts, so
ClickHouse drops whole parts (within monthly partitions) once every row in
them is past it, and never rewrites one. The TTL in force is read back from
system.tables (engine_full), not assumed from the migration files, so what is
reported and changed is what the server enforces.

Tables are found, not listed: every table of the database whose TTL has that
form is managed, so a table a later migration adds with a TTL is covered as
well. A table without TTL (agent_registry, the ledgers) is never given one,
and a TTL of any other form is reported and left alone.

Changing a TTL is ALTER TABLE ... MODIFY TTL, which only the admin account
may run (deploy/clickhouse/users.d/agentaudit.xml): `agentaudit db migrate`
does it, never a service. It runs with materialize_ttl_after_modify = 0, so
no part is rewritten; the new TTL applies as parts are merged or dropped.
"""

from __future__ import annotations

import getpass
import logging
import re
import socket
from dataclasses import dataclass
from datetime import datetime

from clickhouse_connect.driver.client import Client

from agentaudit import __version__
from agentaudit.settings import RETENTION_FLOOR_DAYS
from agentaudit.store.client import quote_identifier, translate_errors

log = logging.getLogger(__name__)

LEDGER = "retention_changes"
_TTL = re.compile(r"\sTTL\s(?P<expr>.+?)(?:\sSETTINGS\s|$)")
# How ClickHouse writes back `toDateTime(col) + INTERVAL n DAY` in engine_full.
_MANAGED = re.compile(r"^toDateTime\((?P<column>[A-Za-z_][A-Za-z0-9_]*)\) \+ toIntervalDay\((?P<days>\d+)\)$")


@dataclass(frozen=True)
class TableTTL:
    """One table's TTL as the server holds it."""

    table: str
    expression: str | None  # None: the table has no TTL
    column: str | None = None  # set when the TTL has the managed form
    days: int | None = None

    @property
    def managed(self) -> bool:
        return self.column is not None


@dataclass(frozen=True)
class Change:
    table: str
    column: str
    previous_days: int
    days: int


@dataclass(frozen=True)
class TableStatus:
    ttl: TableTTL
    rows: int
    oldest: datetime | None  # the oldest value of the TTL column still stored
    meets_floor: bool | None  # None: no TTL (kept forever)


def parse_ttl(table: str, engine_full: str) -> TableTTL:
    """The TTL clause of a table's engine_full, and its column and days when it has the managed form."""
    found = _TTL.search(engine_full)
    if found is None:
        return TableTTL(table, None)
    expression = found["expr"].strip()
    managed = _MANAGED.match(expression)
    if managed is None:
        return TableTTL(table, expression)
    return TableTTL(table, expression, managed["column"], int(managed["days"]))


def read_ttls(client: Client, database: str) -> list[TableTTL]:
    """Every table of the database with its TTL, by name."""
    with translate_errors("reading table TTLs from system.tables"):
        rows = client.query(
            "SELECT name, engine_full FROM system.tables WHERE database = {database:String} "
            "AND NOT is_temporary ORDER BY name",
            parameters={"database": database},
        ).result_rows
    return [parse_ttl(str(name), str(engine)) for name, engine in rows]


def plan(tables: list[TableTTL], days: int) -> list[Change]:
    """The TTL changes that make every managed table keep rows `days` days: none when they already do."""
    return [
        Change(t.table, t.column, t.days, days)
        for t in tables
        if t.column is not None and t.days is not None and t.days != days
    ]


def apply_retention(client: Client, database: str, days: int, *, forced: bool) -> list[Change]:
    """Make every managed table's TTL `days` days; return the changes made (none on a repeat run).

    Cheap enough for every `db migrate`: one read of system.tables, and an
    ALTER only for a table whose TTL differs. forced: the caller accepted a
    retention below the floor (the settings refuse one otherwise); it is
    logged as a warning and flagged in the ledger.
    """
    changes = plan(read_ttls(client, database), days)
    db = quote_identifier(database)
    for change in changes:
        short = days < RETENTION_FLOOR_DAYS
        (log.warning if short or days < change.previous_days else log.info)(
            "retention of %s.%s: %d -> %d days%s", database, change.table, change.previous_days, days,
            f" (FORCED below the {RETENTION_FLOOR_DAYS}-day floor)" if short else "",
        )
        # Recorded before it is made: see schemas/clickhouse/0010_retention_changes.sql.
        with translate_errors(f"recording the retention change of {change.table}"):
            client.insert(
                f"{db}.{LEDGER}",
                [(change.table, change.column, change.previous_days, days, forced and short, _os_user(),
                  socket.gethostname(), __version__)],
                column_names=["table_name", "time_column", "previous_days", "days", "forced", "os_user", "host",
                              "agentaudit_version"],
            )
        with translate_errors(f"changing the TTL of {change.table}"):
            client.command(
                f"ALTER TABLE {db}.{quote_identifier(change.table)} MODIFY TTL "
                f"toDateTime({quote_identifier(change.column)}) + INTERVAL {int(days)} DAY",
                # Metadata only: no part is rewritten now (invariant 5 is about rows; expiry drops whole parts).
                settings={"materialize_ttl_after_modify": 0},
            )
    return changes


def retention_status(client: Client, database: str) -> list[TableStatus]:
    """Each table's TTL, how many rows it holds and the oldest time still stored under its TTL column."""
    db = quote_identifier(database)
    out: list[TableStatus] = []
    for ttl in read_ttls(client, database):
        if ttl.table in (LEDGER, "schema_migrations"):
            continue
        oldest: datetime | None = None
        if ttl.column is not None:
            with translate_errors(f"reading the oldest row of {ttl.table}"):
                count, oldest = client.query(
                    f"SELECT count(), minOrNull({quote_identifier(ttl.column)}) FROM {db}.{quote_identifier(ttl.table)}"
                ).result_rows[0]
        else:
            with translate_errors(f"counting the rows of {ttl.table}"):
                count = client.query(f"SELECT count() FROM {db}.{quote_identifier(ttl.table)}").result_rows[0][0]
        meets = None if ttl.expression is None else (ttl.days is not None and ttl.days >= RETENTION_FLOOR_DAYS)
        out.append(TableStatus(ttl, int(count), oldest, meets))
    return out


@dataclass(frozen=True)
class LedgerEntry:
    changed_at: datetime
    table: str
    previous_days: int
    days: int
    forced: bool
    db_user: str
    os_user: str
    host: str


def retention_history(client: Client, database: str) -> list[LedgerEntry]:
    """Every recorded retention change, oldest first (none before migration 0010 made the ledger)."""
    db = quote_identifier(database)
    with translate_errors("reading retention_changes"):
        if not client.command(f"EXISTS TABLE {db}.{LEDGER}"):
            return []
        rows = client.query(
            f"SELECT changed_at, table_name, previous_days, days, forced, db_user, os_user, host "
            f"FROM {db}.{LEDGER} ORDER BY changed_at, table_name"
        ).result_rows
    return [LedgerEntry(r[0], str(r[1]), int(r[2]), int(r[3]), bool(r[4]), str(r[5]), str(r[6]), str(r[7]))
            for r in rows]


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return ""
