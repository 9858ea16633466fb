from __future__ import annotations

import json
from datetime import UTC, datetime

from agentaudit.query.output import csv_text, json_lines, summary_text, table

ROWS = [
    {"ingest_time": datetime(2025, 3, 1, 12, tzinfo=UTC), "agent_id": "a1", "risk_score": 7, "resource": "x,\"y\""},
    {"ingest_time": datetime(2025, 3, 1, 12, 1, tzinfo=UTC), "agent_id": "agent-long", "risk_score": None, "resource": ""},
]
COLUMNS = ("ingest_time", "agent_id", "risk_score", "resource")


def test_table_is_aligned() -> None:
    lines = table(ROWS, COLUMNS).splitlines()
    assert lines[0].split() == list(COLUMNS)
    assert lines[2].startswith("2025-03-01T12:00:00.000000Z  a1          ")
    # numbers right-aligned under their header
    header_end = lines[0].index("risk_score") + len("risk_score")
    assert lines[2][header_end - 1] == "7"


def test_json_lines() -> None:
    parsed = [json.loads(line) for line in json_lines(ROWS).splitlines()]
    assert parsed[0]["ingest_time"] == "2025-03-01T12:00:00.000000Z" and parsed[1]["risk_score"] is None


def test_csv_quotes() -> None:
    lines = csv_text(ROWS, COLUMNS).splitlines()
    assert lines[0] == "ingest_time,agent_id,risk_score,resource"
    assert lines[1] == '2025-03-01T12:00:00.000000Z,a1,7,"x,""y"""'


def test_summary_text() -> None:
    text = summary_text({"recorded": 5, "rejected": 2, "by_outcome": {"success": 5}, "by_action": {"llm_call": 5},
                         "rejected_by_reason": {"not_avro": 2}})
    assert text.splitlines()[0] == "recorded 5, rejected 2" and "not_avro 2" in text
