"""Migrations, inserts and the high-water read against real ClickHouse (chDB by default)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from clickhouse_connect.driver.client import Client

from agentaudit.codec import SingleObjectCodec
from agentaudit.settings import Settings
from agentaudit.sink.rows import (
    ALERTS_TABLE, COLUMNS, INCIDENTS_TABLE, RECORD_COLUMNS, RECORDS_TABLE, REJECTIONS_TABLE, SEALS_TABLE, record_row,
)
from agentaudit.sink.writer import BatchWriter
from agentaudit.store import load_migrations, migrate, quote_identifier
from agentaudit.store.migrations import MigrationError, migrations_dir
from tests.sink_support import record

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()


def test_migrate_is_idempotent_and_recorded(clickhouse: Client) -> None:
    database = f"test_{uuid.uuid4().hex[:12]}"
    try:
        first = migrate(clickhouse, database)
        assert [m.label for m in first] == [m.label for m in load_migrations()]
        assert migrate(clickhouse, database) == []
        ledger = clickhouse.query(
            f"SELECT version, checksum FROM {quote_identifier(database)}.schema_migrations ORDER BY version"
        ).result_rows
        assert ledger == [(m.version, m.checksum) for m in load_migrations()]
    finally:
        clickhouse.command(f"DROP DATABASE IF EXISTS {quote_identifier(database)} SYNC")


def test_a_changed_migration_stops_the_run(clickhouse: Client, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    shutil.copytree(migrations_dir(), folder)
    database = f"test_{uuid.uuid4().hex[:12]}"
    try:
        migrate(clickhouse, database, load_migrations(folder))
        first = sorted(folder.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- edited after release\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(clickhouse, database, load_migrations(folder))
    finally:
        clickhouse.command(f"DROP DATABASE IF EXISTS {quote_identifier(database)} SYNC")


@pytest.mark.parametrize("table", [RECORDS_TABLE, REJECTIONS_TABLE, SEALS_TABLE, INCIDENTS_TABLE, ALERTS_TABLE])
def test_row_columns_match_the_tables(clickhouse: Client, ch_database: str, table: str) -> None:
    described = clickhouse.query(f"DESCRIBE TABLE {quote_identifier(ch_database)}.{table}").result_rows
    names = [r[0] for r in described]
    assert names == [*COLUMNS[table], "stored_at"]


def test_tables_are_append_only_merge_trees_with_retention(clickhouse: Client, ch_database: str) -> None:
    rows = clickhouse.query(
        "SELECT name, engine, partition_key, sorting_key, create_table_query FROM system.tables "
        "WHERE database = {db:String} AND (name LIKE 'audit_%' OR name = 'alert_deliveries') ORDER BY name",
        parameters={"db": ch_database},
    ).result_rows
    assert [r[0] for r in rows] == [ALERTS_TABLE, INCIDENTS_TABLE, RECORDS_TABLE, REJECTIONS_TABLE, SEALS_TABLE]
    # table: (time column of partitions and TTL, sort key prefix)
    layout = {
        SEALS_TABLE: ("until_time", "tenant_id, agent_id"),
        INCIDENTS_TABLE: ("changed_at", "tenant_id, incident_id"),
        ALERTS_TABLE: ("at", "tenant_id, incident_id"),
    }
    for name, engine, partition_key, sorting_key, ddl in rows:
        time_column, sort_prefix = layout.get(name, ("ingest_time", "tenant_id, toDate(ingest_time)"))
        assert engine == "MergeTree"
        assert partition_key == f"toYYYYMM({time_column})"
        assert sorting_key.startswith(sort_prefix)
        assert f"TTL toDateTime({time_column}) + toIntervalDay(400)" in ddl


def _rows(offsets: range, partition: int = 0) -> list[tuple[object, ...]]:
    out = []
    for offset in offsets:
        raw = codec.encode("AuditRecord", record(offset, partition, full=offset % 2 == 0))
        out.append(record_row(codec.decode("AuditRecord", raw), raw))
    return out


def test_a_retried_insert_is_stored_once_and_bytes_round_trip(store_settings: Settings, clickhouse: Client) -> None:
    writer = BatchWriter(clickhouse, store_settings.clickhouse_database)
    rows = _rows(range(100))
    writer.insert(RECORDS_TABLE, rows, "token-a")
    writer.insert(RECORDS_TABLE, rows, "token-a")  # the retry of an insert that landed
    db = quote_identifier(store_settings.clickhouse_database)
    assert clickhouse.query(f"SELECT count() FROM {db}.audit_records").result_rows == [(100,)]
    stored = clickhouse.query(
        f"SELECT record FROM {db}.audit_records WHERE source_offset = 42", column_formats={"record": "bytes"}
    ).result_rows[0][0]
    assert stored == rows[42][RECORD_COLUMNS.index("record")]
    assert codec.decode("AuditRecord", stored)["source"]["offset"] == 42


def test_high_water_is_answered_by_the_projection(store_settings: Settings, clickhouse: Client) -> None:
    writer = BatchWriter(clickhouse, store_settings.clickhouse_database)
    writer.insert(RECORDS_TABLE, _rows(range(10), partition=0), "p0")
    writer.insert(RECORDS_TABLE, _rows(range(5), partition=3), "p3")
    db = quote_identifier(store_settings.clickhouse_database)
    marks = clickhouse.query(
        f"SELECT source_topic, source_partition, max(source_offset) FROM {db}.audit_records "
        "GROUP BY source_topic, source_partition ORDER BY source_partition",
        settings={"force_optimize_projection": 1},
    ).result_rows
    assert marks == [("agent.actions", 0, 9), ("agent.actions", 3, 4)]


def test_a_locked_embedded_database_gives_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "held"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from agentaudit.settings import Settings
            from agentaudit.store import connect
            c = connect(Settings(clickhouse_dsn="chdb://{folder}"))
            c.query("SELECT 1")
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        probe = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(f"""
                from agentaudit.settings import Settings
                from agentaudit.store import DatabaseLockedError, connect
                try:
                    connect(Settings(clickhouse_dsn="chdb://{folder}"))
                except DatabaseLockedError as exc:
                    print("LOCKED", exc)
            """)],
            capture_output=True, text=True, timeout=60,
        )
        assert "LOCKED" in probe.stdout and "stop the sink" in probe.stdout, probe.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
