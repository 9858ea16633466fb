"""The processor's batch handler with a privacy policy: what it stores, what it scores, and replays."""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka import Producer

from agentaudit.codec import SingleObjectCodec
from agentaudit.detect import RuleSet
from agentaudit.privacy.keys import NeedSubjectKey
from agentaudit.privacy.stage import PrivacyStage
from agentaudit.process.app import BatchHandler
from agentaudit.process.chaining import ChainStage
from agentaudit.process.state_store import StateStore
from agentaudit.settings import Settings
from agentaudit.signing import Ed25519Signer, sign_action
from tests.avro_support import action
from tests.chain_support import TestSigner
from tests.identity_support import NoSecrets, StaticRegistry, signed
from tests.unit.privacy.support import CapturingProducer, make_key, redactor, subject_keys
from tests.unit.process.test_validate import INGEST_MS, message

CODEC = SingleObjectCodec()
PARTITION = message(b"").partition
CLEARTEXT = ("jane.doe@example.com", "Jane Doe", "4111 1111 1111 1111", "123-45-6789", "mailto:jane", "alice")


def pii(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "agent_time": INGEST_MS * 1000 - 1500, "resource": "mailto:jane.doe@example.com",
        "parameters": json.dumps({"email": "jane.doe@example.com", "card": "4111 1111 1111 1111",
                                  "ssn": "123-45-6789", "customer": {"name": "Jane Doe"}}),
    }
    return action(**{**fields, **overrides})


def handler(keys_producer: CapturingProducer | None = None, rules: RuleSet | None = None) -> BatchHandler:
    settings = Settings(topic_prefix="p.")
    producer = Producer({"bootstrap.servers": "127.0.0.1:9"})  # never reached: render() does no I/O
    privacy = PrivacyStage(redactor(), subject_keys(keys_producer, partitions=(PARTITION,)))
    return BatchHandler(settings, CODEC, producer, StateStore(settings, "127.0.0.1:9", producer), TestSigner(),
                        StaticRegistry("agent-1"), NoSecrets(), rules, privacy)


def stage(h: BatchHandler) -> ChainStage:
    return ChainStage(0, {}, -1, h.policy, h.seal_form, h.signer)


def render_with_key(h: BatchHandler, s: ChainStage, value: bytes) -> tuple[str | None, bytes]:
    """What BatchHandler.__call__ does: make the key the render asks for, then render again."""
    try:
        topic, out, _ = h.render(message(value), s)
    except NeedSubjectKey as need:
        assert h.privacy is not None
        make_key(h.privacy.keys, need)
        topic, out, _ = h.render(message(value), s)
    return topic, out


def assert_no_cleartext(data: bytes | str) -> None:
    text = data if isinstance(data, str) else data.decode("utf-8", "replace")
    for value in CLEARTEXT:
        assert value not in text, f"{value!r} stored in clear"


def test_a_subject_without_a_key_stops_the_render_before_any_state_changes() -> None:
    h = handler()
    s = stage(h)
    with pytest.raises(NeedSubjectKey) as raised:
        h.render(message(CODEC.encode("AgentAction", signed(pii()))), s)
    assert (raised.value.partition, raised.value.tenant_id) == (PARTITION, "acme")
    assert s.states == {} and s.sessions.agent_state("agent-1") == s.sessions.agent_state("never-seen")


def test_the_stored_record_is_redacted_and_says_so() -> None:
    h = handler()
    topic, out = render_with_key(h, stage(h), CODEC.encode("AgentAction", signed(pii())))
    assert topic == "p.audit.records"
    assert_no_cleartext(out)
    record = CODEC.decode("AuditRecord", out)
    assert record["redaction"]["policy_version"] == "t1"
    assert record["redaction"]["subject_ref"] == redactor().subject_ref(CODEC.decode("AgentAction", CODEC.encode(
        "AgentAction", pii())))
    assert {"path": "resource", "action": "encrypt"} in record["redaction"]["fields"]
    assert record["attribution"]["key_id"] == "test-ed25519"  # the signature was checked on the original


def test_a_replay_with_the_key_read_back_from_the_topic_makes_identical_bytes() -> None:
    captured = CapturingProducer()
    first = handler(captured)
    value = CODEC.encode("AgentAction", signed(pii()))
    _, before = render_with_key(first, stage(first), value)
    assert len(captured.sent) == 1  # one key, created once
    restarted = handler()
    assert restarted.privacy is not None
    restarted.privacy.keys.add(captured.entries(), PARTITION)  # what load() reads back after a crash
    _, after, _ = restarted.render(message(value), stage(restarted))
    assert after == before


def test_rules_score_the_cleartext_but_incidents_show_the_redacted_action() -> None:
    h = handler(rules=RuleSet.load())
    _, out = render_with_key(h, stage(h), CODEC.encode("AgentAction", signed(pii())))
    record = CODEC.decode("AuditRecord", out)
    assert "data.pii_in_parameters" in {hit["rule_id"] for hit in record["rule_hits"]}
    assert_no_cleartext(json.dumps(record["rule_hits"]))
    incidents = list(h._incidents)
    assert incidents, "the personal-data rule opens an incident"
    for incident in incidents:
        assert_no_cleartext(json.dumps(incident))


def test_a_rejected_action_keeps_its_redacted_form_not_its_bytes() -> None:
    h = handler()
    forged = sign_action(pii(), Ed25519Signer.generate("test-ed25519"))  # a bad signature: attribution refuses it
    topic, out, _ = h.render(message(CODEC.encode("AgentAction", forged)), stage(h))
    assert topic == "p.audit.rejected"
    assert_no_cleartext(out)
    rejection = CODEC.decode("Rejection", out)
    assert rejection["reason_code"] == "bad_signature"
    assert {"path": "resource", "action": "drop"} in rejection["redaction"]["fields"]  # no key for refused input
    kept = CODEC.decode("AgentAction", rejection["original"])
    assert kept["event_id"] == forged["event_id"] and kept["resource"] is None
    for incident in h._incidents:
        assert_no_cleartext(json.dumps(incident))


def test_a_validation_rejection_is_redacted_too() -> None:
    h = handler()
    late = pii(agent_time=INGEST_MS * 1000 + 10**12)  # clock skew: refused before attribution
    topic, out, _ = h.render(message(CODEC.encode("AgentAction", late)), stage(h))
    assert topic == "p.audit.rejected" and CODEC.decode("Rejection", out)["reason_code"] == "clock_skew"
    assert_no_cleartext(out)


def test_without_a_policy_nothing_changes() -> None:
    settings = Settings(topic_prefix="p.")
    producer = Producer({"bootstrap.servers": "127.0.0.1:9"})
    h = BatchHandler(settings, CODEC, producer, StateStore(settings, "127.0.0.1:9", producer), TestSigner(),
                     StaticRegistry("agent-1"), NoSecrets())
    _, out, _ = h.render(message(CODEC.encode("AgentAction", signed(pii()))), stage(h))
    record = CODEC.decode("AuditRecord", out)
    assert record["redaction"] is None and record["action"]["resource"] == "mailto:jane.doe@example.com"
