"""The processor as a real faust worker on a real broker: every input becomes a
record or a rejection that names its reason and keeps its bytes."""

from __future__ import annotations

import json
import time

import pytest

from agentaudit.admin import ensure_topics
from agentaudit.demo.stack import Service
from agentaudit.emit import Emitter, Principal
from agentaudit.settings import Settings
from agentaudit.topics import MIB, Topic
from tests.pipeline_support import CODEC, consume_all, raw_producer, running
from tests.avro_support import action

pytestmark = pytest.mark.integration


def now_action(**overrides: object) -> dict[str, object]:
    return action(agent_time=time.time_ns() // 1000, **overrides)


def bad_inputs() -> dict[str, bytes]:
    """One input per rejection reason the issue lists, keyed by expected reason."""
    encode = CODEC.encode
    valid = encode("AgentAction", now_action(tool="lookup-\u00e9"))
    return {
        "not_avro": b"\x00\x01 definitely not avro",
        "unknown_schema": b"\xc3\x01" + b"\xab" * 8 + valid[10:],
        "missing_field": encode("AgentAction", now_action(tenant_id="")),
        "empty_value": b"",
        "too_large": encode("AgentAction", now_action(parameters=json.dumps({"blob": "x" * MIB}))),
        "invalid_utf8": valid.replace("lookup-\u00e9".encode(), b"lookup-\xc3\x28"),
        "clock_skew": encode("AgentAction", action(agent_time=time.time_ns() // 1000 + 86_400 * 10**6)),
    }


def test_bad_input_lands_in_rejected_with_reason_and_bytes_and_good_input_flows(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    producer = raw_producer(settings)
    topic = settings.topic(Topic.ACTIONS)
    bad = bad_inputs()
    # Bad input first: the pipeline must keep going and accept what follows.
    for value in bad.values():
        producer.produce(topic, value, b"agent-1")
    assert producer.flush(30) == 0
    with Emitter(settings.kafka_bootstrap, "agent-1", "acme", topic=topic) as emitter:
        session = emitter.session(Principal("user", "alice"))
        sent = [session.emit("tool_call", tool="crm.lookup", parameters={"n": i}) for i in range(50)]

    with running(Service("processor", ["process"], settings)):
        rejected = consume_all(settings, Topic.REJECTED, len(bad))
        records = consume_all(settings, Topic.RECORDS, len(sent))

    by_reason = {}
    for msg in rejected:
        rejection = CODEC.decode("Rejection", msg.value())
        by_reason[rejection["reason_code"]] = rejection
        assert msg.partition() == rejection["source"]["partition"]
    assert set(by_reason) == set(bad)
    for reason, value in bad.items():
        rejection = by_reason[reason]
        assert rejection["original"] == value, reason
        assert rejection["source"]["topic"] == topic
        assert rejection["reason"], reason
        assert rejection["agent_id"] == "agent-1"
    assert [CODEC.decode("AuditRecord", m.value())["action"]["event_id"] for m in records] == sent


def test_record_time_is_the_brokers_not_the_agents(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    topic = settings.topic(Topic.ACTIONS)
    lagging = time.time_ns() // 1000 - 3_600 * 10**6  # an agent clock an hour slow, within limits
    producer = raw_producer(settings)
    producer.produce(topic, CODEC.encode("AgentAction", action(agent_time=lagging)), b"agent-1")
    assert producer.flush(30) == 0
    before = time.time_ns() // 1000
    with running(Service("processor", ["process"], settings)):
        (msg,) = consume_all(settings, Topic.RECORDS, 1)
    record = CODEC.decode("AuditRecord", msg.value())
    assert record["action"]["agent_time"] == lagging
    assert abs(record["ingest_time"] - before) < 60 * 10**6
    assert record["clock_skew_ms"] == (lagging - record["ingest_time"]) // 1000
