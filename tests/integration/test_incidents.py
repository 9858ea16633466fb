"""Incident timelines end to end: entries on audit.incidents are stored by the sink,
their state adds up in ClickHouse, and `agentaudit incidents` moves the lifecycle
forward with new, attributed entries only."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from clickhouse_connect.driver.client import Client
from click.testing import CliRunner

from agentaudit.incident.cli import incidents
from agentaudit.incident.grouping import IncidentGroups
from agentaudit.settings import Settings
from agentaudit.store import quote_identifier
from agentaudit.topics import Topic
from tests.integration.test_sink import codec, produce, running_sink
from tests.pipeline_support import wait_for
from tests.unit.incident.test_grouping import FakeHit, action

pytestmark = pytest.mark.integration
NOW_US = 1_790_000_000_000_000  # 2026-09-21


@dataclass(frozen=True)
class At:
    topic: str
    partition: int
    offset: int


def entries_stored(client: Client, database: str) -> int:
    db = quote_identifier(database)
    return int(client.query(f"SELECT count() FROM {db}.audit_incidents").result_rows[0][0])


def test_incidents_are_stored_listed_and_handled_through_their_lifecycle(
    sink_settings: Settings, clickhouse: Client
) -> None:
    groups = IncidentGroups("bot")
    entries = [groups.hit(FakeHit(), action(n), At("agent.actions", 0, n), NOW_US + n, 40 + n) for n in range(4)]
    published = [e for e in entries if e is not None]
    assert [e["change"] for e in published] == ["opened", "hits", "hits"]  # hits 1, 2 and 4
    values = [codec.encode("Incident", e) for e in published]
    delivery = {
        "incident_id": published[0]["incident_id"], "version": 1, "change": "opened", "tenant_id": "acme",
        "severity": "high", "route": "oncall", "kind": "pagerduty", "dedup_key": published[0]["incident_id"],
        "attempt": 1, "status": "retrying", "http_status": 503, "error": "HTTP 503", "retry_in_ms": 1000,
        "at": NOW_US + 10, "latency_ms": 4, "source": {"topic": "audit.incidents", "partition": 0, "offset": 0},
    }
    # the last entry twice, as a processor replay after a crash would write it
    produce(sink_settings, [(Topic.INCIDENTS, 0, b"bot", v) for v in values + values[-1:]]
            + [(Topic.ALERTS, 0, b"bot", codec.encode("AlertDelivery", d))
               for d in (delivery, {**delivery, "attempt": 2, "status": "delivered", "http_status": 202,
                                    "error": None, "retry_in_ms": None, "at": NOW_US + 20})])
    incident_id = published[0]["incident_id"]
    db = sink_settings.clickhouse_database
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(incidents, list(args), obj=sink_settings, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    with running_sink(sink_settings):
        wait_for("incident entries", lambda: entries_stored(clickhouse, db) == 4)
        wait_for("alert deliveries", lambda: clickhouse.query(
            f"SELECT count() FROM {quote_identifier(db)}.alert_deliveries").result_rows[0][0] == 2)
        deliveries = clickhouse.query(
            f"SELECT attempt, status, http_status, route FROM {quote_identifier(db)}.alert_deliveries ORDER BY at"
        ).result_rows
        assert [tuple(r) for r in deliveries] == [(1, "retrying", 503, "oncall"), (2, "delivered", 202, "oncall")]
        listed = [json.loads(line) for line in run("list", "--since", "2026-09-01", "--json").splitlines()]
        assert [(i["incident_id"], i["status"], i["hit_count"], i["risk_score"], i["version"]) for i in listed] == \
            [(incident_id, "open", 4, 43, 3)]

        run("ack", incident_id, "--actor", "alice@soc", "--owner", "alice", "--note", "on it")
        wait_for("the acknowledgement", lambda: entries_stored(clickhouse, db) == 5)
        refused = runner.invoke(incidents, ["ack", incident_id, "--actor", "bob"], obj=sink_settings)
        assert refused.exit_code != 0 and "only moves forward" in str(refused.exception)
        run("resolve", incident_id, "--actor", "bob@soc", "--note", "test data, not a real card")
        wait_for("the resolution", lambda: entries_stored(clickhouse, db) == 6)

        shown = json.loads(run("show", incident_id, "--json"))
        none_open = run("list", "--since", "2026-09-01", "--status", "open", "--json")
        high = run("list", "--since", "2026-09-01", "--severity", "critical", "--json")

    assert (shown["status"], shown["owner"], shown["hit_count"]) == ("resolved", "alice", 4)
    timeline = [(e["change"], e["status"], e["actor"]) for e in shown["timeline"]]
    assert timeline == [("opened", "open", "pipeline"), ("hits", "open", "pipeline"), ("hits", "open", "pipeline"),
                        ("acknowledged", "acknowledged", "alice@soc"), ("resolved", "resolved", "bob@soc")]
    assert shown["timeline"][-1]["note"] == "test data, not a real card"
    assert none_open.strip() == "" and high.strip() == ""
