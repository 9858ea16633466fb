from __future__ import annotations

from agentaudit.codec import SingleObjectCodec
from agentaudit.sink.rows import (
    RECORD_COLUMNS,
    REJECTION_COLUMNS,
    SINK_DECODE,
    record_row,
    rejection_row,
    undecodable_row,
)
from tests.sink_support import record, rejection

codec = SingleObjectCodec()
BYTE_COLUMNS = {"signature", "chain_prev_hash", "chain_hash", "record"}


def _row(full: bool) -> dict[str, object]:
    data = record(5, 2, full=full)
    raw = codec.encode("AuditRecord", data)
    row = record_row(codec.decode("AuditRecord", raw), raw)
    assert len(row) == len(RECORD_COLUMNS)
    return dict(zip(RECORD_COLUMNS, row, strict=True))


def test_minimal_record_has_empty_defaults_and_typed_columns() -> None:
    row = _row(full=False)
    assert row["tool"] == "" and row["error_code"] == "" and row["policy_decision"] == ""
    assert row["approval_decided_at"] is None and row["risk_score"] is None
    assert row["chain_position"] == 0 and row["rule_hits"] == []
    for name in BYTE_COLUMNS:
        assert isinstance(row[name], bytes), name


def test_full_record_is_flattened() -> None:
    row = _row(full=True)
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == ("agent.actions", 2, 5)
    assert row["principal_id"] == "alice" and row["approver_id"] == "bob"
    assert row["error_code"] == "E42" and row["policy_version"] == "3"
    assert row["cost_micros"] == 300 and row["currency"] == "EUR"
    assert row["rule_hits"] == [("r1", "high", "why")]
    assert row["chain_hash"] == b"\x02" * 32 and row["risk_score"] == 70
    assert row["attributes"] == {"gen_ai.system": "openai"}


def test_record_column_keeps_the_consumed_bytes() -> None:
    raw = codec.encode("AuditRecord", record(1))
    row = dict(zip(RECORD_COLUMNS, record_row(codec.decode("AuditRecord", raw), raw), strict=True))
    assert row["record"] is raw


def test_rejection_row() -> None:
    raw = codec.encode("Rejection", rejection(3, 1, reason_code="clock_skew"))
    row = dict(zip(REJECTION_COLUMNS, rejection_row(codec.decode("Rejection", raw), raw), strict=True))
    assert row["reason_code"] == "clock_skew" and row["source_offset"] == 3 and row["source_partition"] == 1
    assert row["tenant_id"] == "" and row["key"] == b"agent-1" and row["record"] == raw


def test_undecodable_row_keeps_bytes_and_its_own_coordinates() -> None:
    row = dict(zip(REJECTION_COLUMNS, undecodable_row("audit.records", 2, 99, 123, b"agent-7", b"\xff\x00", "not_avro: x"), strict=True))
    assert row["reason_code"] == SINK_DECODE
    assert (row["source_topic"], row["source_partition"], row["source_offset"]) == ("audit.records", 2, 99)
    assert row["original"] == b"\xff\x00" and row["agent_id"] == "agent-7" and row["key"] == b"agent-7"
    assert undecodable_row("t", 0, 0, 0, None, None, "empty")[7] == b""
