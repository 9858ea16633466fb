"""Audit queries against real ClickHouse: filters, time window, summary, CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from clickhouse_connect.driver.client import Client

from agentaudit.cli import _register, cli
from agentaudit.codec import SingleObjectCodec
from agentaudit.query import Filters, records_query, rejections_query, run_query, summary
from agentaudit.query.build import sessions_query
from agentaudit.settings import Settings
from agentaudit.sink.rows import RECORDS_TABLE, REJECTIONS_TABLE, record_row, rejection_row
from agentaudit.sink.writer import BatchWriter
from tests.sink_support import record, rejection

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()
NOW = datetime.now(UTC).replace(microsecond=0)
NOW_US = int(NOW.timestamp()) * 1_000_000
MINUTE_US = 60 * 1_000_000


@pytest.fixture
def loaded(store_settings: Settings, clickhouse: Client) -> Settings:
    """60 records over the last hour (one a minute) and 3 rejections."""
    actions = ["llm_call", "tool_call", "data_read"]
    outcomes = ["success", "success", "denied", "failure"]
    rows = []
    for i in range(60):
        data = record(
            i, i % 2, ingest_us=NOW_US - (60 - i) * MINUTE_US,
            agent_id=f"agent-{i % 3}", tenant_id="acme" if i % 5 else "globex",
            action_type=actions[i % 3], outcome=outcomes[i % 4],
            principal={"type": "user", "id": f"user-{i % 4}"},
        )
        raw = codec.encode("AuditRecord", data)
        rows.append(record_row(codec.decode("AuditRecord", raw), raw))
    rejected = []
    for i, reason in enumerate(["not_avro", "not_avro", "clock_skew"]):
        raw = codec.encode("Rejection", rejection(i, reason_code=reason, ingest_us=NOW_US - 10 * MINUTE_US))
        rejected.append(rejection_row(codec.decode("Rejection", raw), raw))
    writer = BatchWriter(clickhouse, store_settings.clickhouse_database)
    writer.insert(RECORDS_TABLE, rows, "records")
    writer.insert(REJECTIONS_TABLE, rejected, "rejections")
    return store_settings


def _query(client: Client, settings: Settings, **kwargs: object) -> list[dict[str, object]]:
    filters = Filters(**{"since": NOW - timedelta(hours=2), "until": NOW, **kwargs})  # type: ignore[arg-type]
    return run_query(client, records_query(settings.clickhouse_database, filters))


def test_filters(loaded: Settings, clickhouse: Client) -> None:
    assert len(_query(clickhouse, loaded, limit=0)) == 60
    agent1 = _query(clickhouse, loaded, values={"agent": ("agent-1",)}, limit=0)
    assert len(agent1) == 20 and {r["agent_id"] for r in agent1} == {"agent-1"}
    denied = _query(clickhouse, loaded, values={"outcome": ("denied",), "tenant": ("acme",)}, limit=0)
    assert denied and all(r["outcome"] == "denied" and r["tenant_id"] == "acme" for r in denied)
    both = _query(clickhouse, loaded, values={"action": ("llm_call", "data_read")}, limit=0)
    assert len(both) == 40
    assert len(_query(clickhouse, loaded, values={"principal": ("user-3",)}, limit=0)) == 15


def test_window_is_half_open_on_ingest_time_and_newest_first(loaded: Settings, clickhouse: Client) -> None:
    rows = _query(clickhouse, loaded, since=NOW - timedelta(minutes=10), until=NOW - timedelta(minutes=5))
    times: list[datetime] = [r["ingest_time"] for r in rows]  # type: ignore[misc]
    assert len(rows) == 5 and times == sorted(times, reverse=True)
    assert times[-1] == NOW - timedelta(minutes=10) and all(t < NOW - timedelta(minutes=5) for t in times)
    assert _query(clickhouse, loaded, limit=7)[0]["ingest_time"] == NOW - timedelta(minutes=1)


def test_injection_value_is_only_a_value(loaded: Settings, clickhouse: Client) -> None:
    evil = "agent-1') OR 1=1 OR (agent_id IN ('x"
    assert _query(clickhouse, loaded, values={"agent": (evil,)}) == []


def test_summary(loaded: Settings, clickhouse: Client) -> None:
    result = summary(clickhouse, loaded, NOW - timedelta(hours=2), NOW)
    assert result["recorded"] == 60 and result["rejected"] == 3
    assert result["by_action"] == {"data_read": 20, "llm_call": 20, "tool_call": 20}
    assert result["by_outcome"] == {"denied": 15, "failure": 15, "success": 30}
    assert result["rejected_by_reason"] == {"not_avro": 2, "clock_skew": 1}
    narrowed = summary(clickhouse, loaded, None, None, agent=("agent-0",))
    assert narrowed["recorded"] == 20 and narrowed["rejected"] == 3  # rejections are by agent-0's key
    rows = run_query(clickhouse, rejections_query(loaded.clickhouse_database, Filters(None, None, {"reason": ("clock_skew",)})))
    assert [r["reason_code"] for r in rows] == ["clock_skew"]


def test_cli_table_json_csv_and_summary(loaded: Settings) -> None:
    _register()
    env = {"AGENTAUDIT_CLICKHOUSE_DSN": loaded.clickhouse_dsn, "AGENTAUDIT_CLICKHOUSE_DATABASE": loaded.clickhouse_database}
    runner = CliRunner()
    table = runner.invoke(cli, ["query", "--since", "-2h", "--agent", "agent-2", "--limit", "5"], env=env)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].startswith("ingest_time") and len(lines) == 2 + 5
    as_json = runner.invoke(cli, ["query", "--since", "-2h", "--outcome", "failure", "--json", "--limit", "0"], env=env)
    parsed = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(parsed) == 15 and {p["outcome"] for p in parsed} == {"failure"}
    as_csv = runner.invoke(cli, ["query", "--since", "-2h", "--csv", "--limit", "3"], env=env)
    assert len(as_csv.stdout.splitlines()) == 4
    counts = runner.invoke(cli, ["query", "--since", "-2h", "--summary"], env=env)
    assert counts.stdout.startswith("recorded 60, rejected 3"), counts.output
    rejected = runner.invoke(cli, ["query", "--since", "-2h", "--rejected", "--reason", "not_avro", "--json"], env=env)
    assert len(rejected.stdout.splitlines()) == 2


def test_sessions_show_expected_against_stored_actions(store_settings: Settings, clickhouse: Client) -> None:
    """Completeness (issue 3, point 5): session s-gap lost sequences 3 and 4, s-ok lost none."""
    rows = []
    stored = {"s-gap": [1, 2, 5, 6], "s-ok": [1, 2, 3]}
    offset = 0
    for session, sequences in stored.items():
        for sequence in sequences:
            raw = codec.encode("AuditRecord", record(
                offset, ingest_us=NOW_US - 30 * MINUTE_US + offset, agent_id="agent-s", session_id=session,
                sequence=sequence,
            ))
            rows.append(record_row(codec.decode("AuditRecord", raw), raw))
            offset += 1
    BatchWriter(clickhouse, store_settings.clickhouse_database).insert(RECORDS_TABLE, rows, "sessions")
    filters = Filters(NOW - timedelta(hours=2), NOW, {"agent": ("agent-s",)})
    result = run_query(clickhouse, sessions_query(store_settings.clickhouse_database, filters))
    assert [(r["session_id"], r["expected"], r["actual"], r["missing"], r["duplicates"]) for r in result] == [
        ("s-gap", 6, 4, 2, 0), ("s-ok", 3, 3, 0, 0),
    ]
