"""The processor as a real faust worker on a real broker: every input becomes a
record or a rejection that names its reason and keeps its bytes."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from agentaudit.admin import ensure_topics
from agentaudit.demo.identities import enroll
from agentaudit.demo.stack import Service
from agentaudit.demo.workload import AgentProfile
from agentaudit.emit import Emitter, Principal
from agentaudit.keyring import Keyring
from agentaudit.registry.change import ChangeKind
from agentaudit.registry.requests import SetStatus
from agentaudit.registry.store import RegistryWriter
from agentaudit.settings import Settings
from agentaudit.signing import Ed25519Signer, Signer, sign_action
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


def enrolled(settings: Settings) -> dict[str, Signer]:
    """agent-1 signs with Ed25519, agent-h with HMAC-SHA256; both registered on the real registry topic."""
    profiles = [AgentProfile("agent-1", "acme", "support", ("alice",)), AgentProfile("agent-h", "acme", "support", ("bob",))]
    return enroll(settings, settings.kafka_bootstrap, profiles, lambda _line: None, hmac_agents=1)


def attribution_failures(signers: dict[str, Signer]) -> dict[str, list[bytes]]:
    """Well-formed actions attribution must refuse, keyed by reason; replays come as original + copy."""
    encode = CODEC.encode
    genuine = signers["agent-1"]
    forged = sign_action(now_action(event_id=str(uuid.uuid4())), Ed25519Signer.generate(genuine.key_id))
    ghost = sign_action(now_action(agent_id="ghost", event_id=str(uuid.uuid4())), Ed25519Signer.generate("g"))
    replayed = encode("AgentAction", sign_action(now_action(event_id=str(uuid.uuid4()), session_id="r"), genuine))
    ahead = sign_action(now_action(event_id=str(uuid.uuid4()), session_id="b", sequence=2), genuine)
    behind = sign_action(now_action(event_id=str(uuid.uuid4()), session_id="b", sequence=1), genuine)
    return {
        "bad_signature": [encode("AgentAction", forged)],
        "unknown_agent": [encode("AgentAction", ghost)],
        "replayed_event_id": [replayed, replayed],
        "sequence_regression": [encode("AgentAction", ahead), encode("AgentAction", behind)],
    }


def test_bad_input_lands_in_rejected_with_reason_and_bytes_and_good_input_flows(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    signers = enrolled(settings)
    producer = raw_producer(settings)
    topic = settings.topic(Topic.ACTIONS)
    bad = bad_inputs()
    # Bad input first: the pipeline must keep going and accept what follows.
    for value in bad.values():
        producer.produce(topic, value, b"agent-1")
    refused = attribution_failures(signers)
    for reason, values in refused.items():
        for value in values:
            producer.produce(topic, value, b"ghost" if reason == "unknown_agent" else b"agent-1")
    assert producer.flush(30) == 0
    sent = []
    for agent_id in ("agent-1", "agent-h"):
        with Emitter(settings.kafka_bootstrap, agent_id, "acme", topic=topic, signer=signers[agent_id]) as emitter:
            session = emitter.session(Principal("user", "alice"))
            sent += [session.emit("tool_call", tool="crm.lookup", parameters={"n": i}) for i in range(25)]

    with running(Service("processor", ["process"], settings)):
        rejected = consume_all(settings, Topic.REJECTED, len(bad) + len(refused))
        records = consume_all(settings, Topic.RECORDS, len(sent) + 2)  # + the replayed and the out-of-order originals
        incidents = consume_all(settings, Topic.INCIDENTS, len(refused) + 1)

    # integrity findings only: the detection rules may open incidents of their own
    by_kind = {CODEC.decode("Incident", m.value())["rule_id"].removeprefix("integrity."):
               CODEC.decode("Incident", m.value()) for m in incidents
               if CODEC.decode("Incident", m.value())["rule_id"].startswith("integrity.")}
    # session "b" started at 2: accepted, with a gap incident, before its 1 was refused
    assert set(by_kind) == {*refused, "sequence_gap"}
    assert by_kind["bad_signature"]["severity"] == "critical"
    for msg in rejected:
        rejection = CODEC.decode("Rejection", msg.value())
        if rejection["reason_code"] in refused:
            assert rejection["original"] == refused[rejection["reason_code"]][-1]
    rejected = [m for m in rejected if CODEC.decode("Rejection", m.value())["reason_code"] not in refused]
    stored = [CODEC.decode("AuditRecord", m.value()) for m in records]
    assert all(r["attribution"] and r["chain"] for r in stored)
    assert {r["attribution"]["algorithm"] for r in stored} == {"ed25519", "hmac-sha256"}
    records = [m for m, r in zip(records, stored, strict=True) if r["action"]["session_id"] not in ("r", "b")]

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
    actions = [CODEC.decode("AuditRecord", m.value())["action"] for m in records]
    for agent_id in ("agent-1", "agent-h"):  # each agent's records in the order it emitted them
        mine = [a["event_id"] for a in actions if a["agent_id"] == agent_id]
        assert mine == [e for e, owner in zip(sent, ["agent-1"] * 25 + ["agent-h"] * 25, strict=True) if owner == agent_id]


def test_record_time_is_the_brokers_not_the_agents(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    signers = enrolled(settings)
    topic = settings.topic(Topic.ACTIONS)
    lagging = time.time_ns() // 1000 - 3_600 * 10**6  # an agent clock an hour slow, within limits
    producer = raw_producer(settings)
    producer.produce(topic, CODEC.encode("AgentAction", sign_action(action(agent_time=lagging), signers["agent-1"])),
                     b"agent-1")
    assert producer.flush(30) == 0
    before = time.time_ns() // 1000
    with running(Service("processor", ["process"], settings)):
        (msg,) = consume_all(settings, Topic.RECORDS, 1)
    record = CODEC.decode("AuditRecord", msg.value())
    assert record["action"]["agent_time"] == lagging
    assert abs(record["ingest_time"] - before) < 60 * 10**6
    assert record["clock_skew_ms"] == (lagging - record["ingest_time"]) // 1000


def test_a_suspended_agent_is_refused_from_the_moment_the_suspension_takes_effect(settings: Settings) -> None:
    """The kill switch (CC7.4) end to end: suspend through the registry; actions
    ingested before it took effect are kept as records, later ones are refused
    with agent_suspended and a high-severity incident."""
    ensure_topics(settings, settings.kafka_bootstrap)
    signers = enrolled(settings)
    topic = settings.topic(Topic.ACTIONS)
    producer = raw_producer(settings)

    def send(event: str, sequence: int) -> None:
        value = CODEC.encode("AgentAction", sign_action(
            now_action(event_id=event, session_id="k", sequence=sequence), signers["agent-1"]))
        producer.produce(topic, value, b"agent-1")
        assert producer.flush(30) == 0

    before = str(uuid.uuid4())
    send(before, 1)
    with RegistryWriter(settings, settings.kafka_bootstrap, Keyring.load(settings)) as writer:
        change = writer.submit(SetStatus(agent_id="agent-1", kind=ChangeKind.SUSPEND, actor="carol",
                                         approver="dave", reason="INC-9 kill switch"))
    time.sleep(max(0.0, change.valid_from_us / 1e6 - time.time()) + 0.2)
    after = str(uuid.uuid4())
    send(after, 2)

    with running(Service("processor", ["process"], settings)):
        (record,) = consume_all(settings, Topic.RECORDS, 1)
        (refused,) = consume_all(settings, Topic.REJECTED, 1)
        (incident,) = consume_all(settings, Topic.INCIDENTS, 1)
    assert CODEC.decode("AuditRecord", record.value())["action"]["event_id"] == before
    rejection = CODEC.decode("Rejection", refused.value())
    assert (rejection["reason_code"], rejection["event_id"]) == ("agent_suspended", after)
    found = CODEC.decode("Incident", incident.value())
    assert found["rule_id"].endswith("agent_suspended") and found["severity"] == "high"
