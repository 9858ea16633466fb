from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agentaudit.errors import ConfigError
from agentaudit.store.client import quote_identifier
from agentaudit.store.migrations import (
    PLACEHOLDER,
    AppliedMigration,
    MigrationError,
    check,
    load_migrations,
    split_statements,
)


def test_split_ignores_semicolons_in_literals_and_comments() -> None:
    sql = """
    -- a comment; with a semicolon
    CREATE TABLE t (a String DEFAULT 'x;y', b String COMMENT 'it''s; fine') ENGINE = Memory;
    /* block; comment */
    SELECT "weird;name" FROM t;
    -- only a comment at the end;
    """
    statements = split_statements(sql)
    assert len(statements) == 2
    assert "'x;y'" in statements[0] and "'it''s; fine'" in statements[0]
    assert statements[1].endswith('SELECT "weird;name" FROM t')


def test_shipped_migrations_are_ordered_and_parameterized() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for m in migrations:
        assert PLACEHOLDER in m.sql
        # the database name comes from the settings, never from the file
        assert not re.search(r"\bagentaudit\.", m.sql)
        for statement in m.statements("audit_test_db"):
            assert PLACEHOLDER not in statement
            assert "`audit_test_db`." in statement


def test_audit_tables_keep_retention_and_dedup_settings() -> None:
    text = "\n".join(m.sql for m in load_migrations())
    for table in ("audit_records", "audit_rejections"):
        assert f"{PLACEHOLDER}.{table}" in text
    assert text.count("PARTITION BY toYYYYMM(ingest_time)") == 2
    assert text.count("non_replicated_deduplication_window") >= 2
    for days in re.findall(r"INTERVAL (\d+) DAY", text):
        assert int(days) >= 365


@pytest.mark.parametrize("name", ["a`b", "db; DROP TABLE x", "", "1abc", "a.b", "a b"])
def test_database_name_must_be_an_identifier(name: str) -> None:
    with pytest.raises(ConfigError):
        quote_identifier(name)


def test_load_rejects_bad_names(tmp_path: Path) -> None:
    (tmp_path / "1_bad.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError):
        load_migrations(tmp_path)


def _applied(version: int, checksum: str) -> AppliedMigration:
    return AppliedMigration(version, "x", checksum, datetime.now(UTC))


def test_check_returns_pending_only() -> None:
    local = load_migrations()
    pending = check(local, {local[0].version: _applied(local[0].version, local[0].checksum)})
    assert pending == local[1:]


def test_check_refuses_a_changed_migration() -> None:
    local = load_migrations()
    with pytest.raises(MigrationError, match="changed after it was applied"):
        check(local, {local[0].version: _applied(local[0].version, "0" * 64)})


def test_check_refuses_an_unknown_applied_migration() -> None:
    with pytest.raises(MigrationError, match="does not know"):
        check(load_migrations(), {9999: _applied(9999, "0" * 64)})
