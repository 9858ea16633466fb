from __future__ import annotations

from typing import Any

import pytest

from agentaudit.codec import SingleObjectCodec
from agentaudit.process.validate import LOG_APPEND_TIME, Input, Limits, evaluate
from tests.avro_support import action

CODEC = SingleObjectCodec()
LIMITS = Limits(max_action_bytes=1024 * 1024, max_future_skew_us=300_000_000, max_past_skew_us=86_400_000_000)
INGEST_MS = 1_700_000_000_000


def message(value: bytes | None, key: bytes | None = b"agent-1", **overrides: Any) -> Input:
    fields: dict[str, Any] = dict(
        topic="agent.actions", partition=3, offset=42, key=key, value=value,
        timestamp_ms=INGEST_MS, timestamp_type=LOG_APPEND_TIME,
    )
    fields.update(overrides)
    return Input(**fields)


def encoded(**overrides: Any) -> bytes:
    return CODEC.encode("AgentAction", action(agent_time=INGEST_MS * 1000 - 1500, **overrides))


def test_valid_action_becomes_a_record_stamped_with_broker_time() -> None:
    outcome = evaluate(message(encoded()), CODEC, LIMITS)
    assert outcome.rejection is None and outcome.record is not None
    record = outcome.record
    assert record["ingest_time"] == INGEST_MS * 1000
    assert record["clock_skew_ms"] == -2  # agent clock 1.5 ms behind, floored
    assert record["source"] == {"topic": "agent.actions", "partition": 3, "offset": 42}
    assert record["action"]["event_id"] == action()["event_id"]
    # The record must encode: the processor writes exactly this dict.
    CODEC.encode("AuditRecord", record)


def test_same_input_gives_identical_bytes() -> None:
    first = evaluate(message(encoded()), CODEC, LIMITS).record
    second = evaluate(message(encoded()), CODEC, LIMITS).record
    assert first is not None and second is not None
    assert CODEC.encode("AuditRecord", first) == CODEC.encode("AuditRecord", second)


def reason(msg: Input) -> tuple[str, str]:
    outcome = evaluate(msg, CODEC, LIMITS)
    assert outcome.record is None and outcome.rejection is not None
    rejection = outcome.rejection
    assert rejection["original"] == (msg.value or b"")
    assert rejection["source"]["offset"] == msg.offset
    CODEC.encode("Rejection", rejection)
    return rejection["reason_code"], rejection["reason"]


@pytest.mark.parametrize(
    ("msg", "code", "says"),
    [
        (message(b"not avro at all"), "not_avro", "marker"),
        (message(b"\xc3\x01" + b"\x11" * 8 + b"\x00"), "unknown_schema", "fingerprint"),
        (message(b""), "empty_value", "empty"),
        (message(None), "empty_value", "tombstone"),
        (message(b"\xc3\x01" + b"x" * (1024 * 1024)), "too_large", "limit"),
        (message(encoded(agent_id="")), "missing_field", "agent_id"),
        (message(encoded(tenant_id="")), "missing_field", "tenant_id"),
        (message(encoded(principal={"type": "user", "id": ""})), "missing_field", "principal.id"),
        (message(encoded(event_id="not-a-uuid")), "invalid_field", "event_id"),
        (message(encoded(sequence=0)), "invalid_field", "sequence"),
        (message(encoded(), key=b"agent-2"), "invalid_field", "key"),
        (message(encoded(), timestamp_type=0), "untrusted_time", "LogAppendTime"),
    ],
)
def test_bad_input_is_rejected_with_its_reason_and_bytes(msg: Input, code: str, says: str) -> None:
    got_code, got_reason = reason(msg)
    assert got_code == code
    assert says in got_reason


def test_invalid_utf8_is_rejected() -> None:
    good = encoded(session_id="s-\u00e9")
    msg = message(good.replace("s-\u00e9".encode(), b"s-\xc3\x28"))
    assert reason(msg)[0] == "invalid_utf8"


@pytest.mark.parametrize(("skew_s", "word"), [(301, "ahead"), (86_401, "behind")])
def test_agent_clock_far_off_is_rejected(skew_s: int, word: str) -> None:
    agent_time = INGEST_MS * 1000 + (skew_s if word == "ahead" else -skew_s) * 1_000_000
    value = CODEC.encode("AgentAction", action(agent_time=agent_time))
    code, text = reason(message(value))
    assert code == "clock_skew" and word in text


def test_clock_within_limits_is_kept_and_compared() -> None:
    value = CODEC.encode("AgentAction", action(agent_time=INGEST_MS * 1000 + 299_000_000))
    record = evaluate(message(value), CODEC, LIMITS).record
    assert record is not None and record["clock_skew_ms"] == 299_000


def test_rejection_keeps_the_agent_from_the_key_when_undecodable() -> None:
    outcome = evaluate(message(b"junk", key=b"agent-9"), CODEC, LIMITS)
    assert outcome.rejection is not None and outcome.rejection["agent_id"] == "agent-9"
