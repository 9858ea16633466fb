"""Invariant 5: nothing in the pipeline updates or deletes stored audit rows.

Every SQL text the package could send -- each string literal in
services/agentaudit and every migration in schemas/clickhouse -- is scanned
for statements that rewrite or remove rows: UPDATE, DELETE, ALTER TABLE ...
UPDATE/DELETE (mutations), lightweight DELETE FROM, TRUNCATE, and dropping a
table or a partition. The scanner is itself tested against those statements,
so a rule that stops matching fails here rather than passing silently.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import agentaudit
from agentaudit.store.migrations import load_migrations

PACKAGE = Path(agentaudit.__file__).parent

FORBIDDEN = [
    re.compile(r"\bALTER\s+TABLE\b[\s\S]*?\b(UPDATE|DELETE)\b", re.I),
    re.compile(r"\bDELETE\s+FROM\b", re.I),
    re.compile(r"^\s*UPDATE\s+[`\"\w.{}$]+\s+SET\b", re.I | re.M),
    re.compile(r"\bTRUNCATE\b", re.I),
    re.compile(r"\bDROP\s+(TABLE|PARTITION|PART|DETACHED)\b", re.I),
    re.compile(r"\bALTER\s+TABLE\b[\s\S]*?\b(DROP|DETACH|REPLACE|MOVE)\s+PARTITION\b", re.I),
    re.compile(r"\bALTER\s+TABLE\b[\s\S]*?\bMODIFY\s+TTL\b", re.I),
]


# The one exception, and why: retention (issue 5) is the audit tables' TTL, and
# `agentaudit db migrate` -- run with the admin account, never by a service --
# sets it with ALTER TABLE ... MODIFY TTL (metadata only, no part rewritten).
# The floor on how short it may be is enforced by Settings and tested in
# tests/unit/test_settings_retention.py. Nowhere else may a TTL change.
ALLOWED = {("store/retention.py", "MODIFY TTL")}


def violations(sql: str) -> list[str]:
    return [m.group(0)[:80] for rule in FORBIDDEN for m in [rule.search(sql)] if m]


def allowed(path: str, violation: str) -> bool:
    return any(path == where and violation.upper().endswith(what) for where, what in ALLOWED)


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE db.audit_records UPDATE outcome = 'success' WHERE 1",
        "alter table {db}.audit_records\n  DELETE WHERE agent_id = 'x'",
        "DELETE FROM audit_records WHERE 1",
        "UPDATE audit_records SET outcome = 'x' WHERE 1",
        "TRUNCATE TABLE audit_seals",
        "DROP TABLE IF EXISTS agentaudit.audit_records",
        "ALTER TABLE audit_records DROP PARTITION 202601",
        "ALTER TABLE audit_records MODIFY TTL ingest_time + INTERVAL 1 DAY",
    ],
)
def test_the_scanner_catches_every_rewriting_statement(statement: str) -> None:
    assert violations(statement)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO audit_records (event_id) VALUES",
        "SELECT source_topic, max(source_offset) FROM audit_records GROUP BY source_topic",
        "CREATE TABLE IF NOT EXISTS x (a String) ENGINE = MergeTree ORDER BY a",
        "ALTER TABLE x ADD COLUMN IF NOT EXISTS y String",
    ],
)
def test_the_scanner_lets_appends_reads_and_additive_ddl_through(statement: str) -> None:
    assert not violations(statement)


def string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant in a module (f-string parts included), docstrings excepted."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    out: list[tuple[int, str]] = []
    inside_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # an f-string: its text with {} for each value
            parts = [v.value if isinstance(v, ast.Constant) else "{}" for v in node.values]
            inside_fstrings.update(id(v) for v in node.values)
            out.append((node.lineno, "".join(str(p) for p in parts)))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                id(node) not in docstrings and id(node) not in inside_fstrings:
            out.append((node.lineno, node.value))
    return out


def test_the_literal_scan_sees_sql_in_code_but_not_docstrings(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Never DELETE FROM anything."""\nq = f"ALTER TABLE {db}.t DELETE WHERE 1"\n')
    assert [v for _, text in string_literals(module) for v in violations(text)]
    assert all("Never" not in text for _, text in string_literals(module))


def test_no_code_path_rewrites_or_removes_audit_rows() -> None:
    found = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50, "the scan must see the whole package"
    for path in files:
        for line, literal in string_literals(path):
            where = str(path.relative_to(PACKAGE))
            found += [f"{where}:{line}: {v}" for v in violations(literal) if not allowed(where, v)]
    assert found == []


def test_the_retention_exception_is_narrow() -> None:
    """MODIFY TTL is let through in store/retention.py only; anything else there is still caught."""
    assert allowed("store/retention.py", "ALTER TABLE {}.{} MODIFY TTL")
    assert not allowed("store/retention.py", "ALTER TABLE {}.{} DROP PARTITION")
    assert not allowed("sink/rows.py", "ALTER TABLE {}.{} MODIFY TTL")
    retention = PACKAGE / "store" / "retention.py"
    hits = [v for _, text in string_literals(retention) for v in violations(text)]
    assert hits and all(allowed("store/retention.py", v) for v in hits), "the exception is in use, and only it"


def test_no_migration_rewrites_or_removes_audit_rows() -> None:
    migrations = load_migrations()
    assert migrations
    for migration in migrations:
        sql = "\n".join(migration.statements("db"))
        assert violations(sql) == [], migration.label
