"""Ordered ClickHouse migrations from schemas/clickhouse, applied idempotently.

Files are named NNNN_name.sql and applied in version order. Each applied
migration is recorded in <database>.schema_migrations with the SHA-256 of its
file; a file whose checksum no longer matches what was applied stops the run
(released migrations are never edited: write a new one). Statements use
`${database}` for the database name, substituted with the validated, quoted
name from the settings, so one set of files serves every database.

ClickHouse DDL is not transactional: a run that stops half-way leaves some
statements applied and the migration unrecorded. Every statement is therefore
written to be re-runnable (IF NOT EXISTS), and the next run applies the whole
migration again before recording it.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from agentaudit.errors import ConfigError
from agentaudit.store.client import quote_identifier, translate_errors

log = logging.getLogger(__name__)

PLACEHOLDER = "${database}"
LEDGER = "schema_migrations"
_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")


class MigrationError(ConfigError):
    """The migrations on disk and those recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def statements(self, database: str) -> list[str]:
        """The migration's statements for `database`, ready to run one by one."""
        return split_statements(self.sql.replace(PLACEHOLDER, quote_identifier(database)))


@dataclass(frozen=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


def migrations_dir() -> Path:
    """schemas/clickhouse in a source checkout, or the copy packaged into the wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_schemas" / "clickhouse", package.parent.parent / "schemas" / "clickhouse"):
        if candidate.is_dir():
            return candidate
    raise ConfigError("schemas/clickhouse not found beside the agentaudit package")


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or migrations_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_name.sql")
        version = int(match["version"])
        if version in found:
            raise MigrationError(f"{path}: version {version:04d} is used twice")
        raw = path.read_bytes()
        found[version] = Migration(version, match["name"], raw.decode("utf-8"), hashlib.sha256(raw).hexdigest())
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split on semicolons outside quotes and comments; drop empty statements.

    Comments stay inside the statements they belong to (ClickHouse accepts
    them); statements that are only comments are dropped.
    """
    statements: list[str] = []
    current: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'\"`":
            end = i + 1
            while end < n:
                if sql[end] == "\\":
                    end += 2
                    continue
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote inside the literal
                        end += 2
                        continue
                    break
                end += 1
            current.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            current.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            current.append(sql[i:end])
            i = end
        elif ch == ";":
            statements.append("".join(current))
            current = []
            i += 1
        else:
            current.append(ch)
            i += 1
    statements.append("".join(current))
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    without_comments = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.S)
    return bool(without_comments.strip())


def _ensure_ledger(client: Client, database: str) -> None:
    db = quote_identifier(database)
    with translate_errors(f"creating database {database}"):
        client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
        client.command(
            f"""CREATE TABLE IF NOT EXISTS {db}.{LEDGER}
            (
                version    UInt32,
                name       String,
                checksum   String,
                applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
            )
            ENGINE = MergeTree ORDER BY version
            COMMENT 'Migrations from schemas/clickhouse applied to this database (agentaudit db migrate).'"""
        )


def applied_migrations(client: Client, database: str) -> dict[int, AppliedMigration]:
    """What schema_migrations records, by version (empty when the database is new)."""
    _ensure_ledger(client, database)
    with translate_errors("reading schema_migrations"):
        result = client.query(
            f"SELECT version, name, checksum, applied_at FROM {quote_identifier(database)}.{LEDGER} ORDER BY version"
        )
    return {int(r[0]): AppliedMigration(int(r[0]), str(r[1]), str(r[2]), r[3]) for r in result.result_rows}


def check(local: list[Migration], applied: dict[int, AppliedMigration]) -> list[Migration]:
    """The migrations still to apply; raises when history and files disagree."""
    by_version = {m.version: m for m in local}
    for version, done in applied.items():
        mine = by_version.get(version)
        if mine is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{done.name}, which this agentaudit does not know: "
                "upgrade agentaudit before running it against this database"
            )
        if mine.checksum != done.checksum:
            raise MigrationError(
                f"migration {mine.label} was changed after it was applied (checksum {done.checksum[:12]} "
                f"in the database, {mine.checksum[:12]} on disk): restore the file and add a new migration instead"
            )
    return [m for m in local if m.version not in applied]


def migrate(client: Client, database: str, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply every pending migration in order; return the ones applied now.

    Idempotent: a second run applies nothing. Not safe to run twice at the same
    time (ClickHouse has no DDL lock); deployments run it once, before the sink.
    """
    local = load_migrations() if migrations is None else migrations
    pending = check(local, applied_migrations(client, database))
    for migration in pending:
        log.info("applying migration %s to %s", migration.label, database)
        for statement in migration.statements(database):
            with translate_errors(f"migration {migration.label}"):
                client.command(statement)
        with translate_errors(f"recording migration {migration.label}"):
            client.insert(
                f"{quote_identifier(database)}.{LEDGER}",
                [(migration.version, migration.name, migration.checksum)],
                column_names=["version", "name", "checksum"],
            )
    return pending
