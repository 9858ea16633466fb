"""The detection stage inside the processor: scores chained with the record, incidents
grouped per agent and rule, and a restart from saved state scoring exactly as before."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Producer

from agentaudit.chain.state import ChainState
from agentaudit.codec import SingleObjectCodec
from agentaudit.detect import RuleSet
from agentaudit.process.app import BatchHandler, checkpoint
from agentaudit.process.chaining import ChainStage
from agentaudit.process.state_store import StateStore
from agentaudit.settings import Settings
from tests.avro_support import action
from tests.chain_support import TestSigner
from tests.identity_support import NoSecrets, StaticRegistry, signed
from tests.unit.process.test_validate import INGEST_MS, message

codec = SingleObjectCodec()
RULES = RuleSet.load()
DENY = {"decision": "deny", "policy_id": "payments", "policy_version": "7", "reason": "over limit"}


def handler(rules: RuleSet | None = RULES) -> BatchHandler:
    settings = Settings(topic_prefix="p.")
    producer = Producer({"bootstrap.servers": "127.0.0.1:9"})  # never reached: render() does no I/O
    return BatchHandler(settings, codec, producer, StateStore(settings, "127.0.0.1:9", producer), TestSigner(),
                        StaticRegistry("agent-1"), NoSecrets(), rules)


def value(n: int, **overrides: Any) -> bytes:
    fields: dict[str, Any] = dict(event_id=f"01934b6e-1c2a-7c3d-8e4f-{n:012x}", sequence=n + 1,
                                  agent_time=INGEST_MS * 1000 + n * 1_000_000 - 1500)
    fields.update(overrides)
    return codec.encode("AgentAction", signed(action(**fields)))


def inputs(count: int) -> list[tuple[int, bytes]]:
    """A session where every third action executes despite a deny and every fifth has a skewed clock."""
    out = []
    for n in range(count):
        overrides: dict[str, Any] = {}
        if n % 3 == 0:
            overrides["policy"] = DENY
        if n % 5 == 0:
            overrides["agent_time"] = INGEST_MS * 1000 + n * 1_000_000 + 60_000_000
        out.append((n, value(n, **overrides)))
    return out


def render_all(h: BatchHandler, stage: ChainStage, batch: list[tuple[int, bytes]]) -> list[tuple[Any, ...]]:
    out = []
    for n, v in batch:
        topic, encoded, seals = h.render(message(v, offset=100 + n, timestamp_ms=INGEST_MS + n * 1000), stage)
        out.append((topic, encoded, [s.body for s in seals], [codec.encode("Incident", i) for i in h._incidents]))
    return out


def test_a_record_carries_its_score_and_hits_inside_the_chained_bytes() -> None:
    h = handler()
    stage = ChainStage(3, {}, -1, h.policy, h.seal_form, h.signer)
    topic, encoded, _ = h.render(message(value(0, policy=DENY), offset=100), stage)
    record = codec.decode("AuditRecord", encoded)
    assert topic == "p.audit.records"
    assert record["risk_score"] > 0
    assert "policy.executed_despite_decision" in [hit["rule_id"] for hit in record["rule_hits"]]
    # the chain hash covers the score: the canonical bytes it hashes carry it
    assert h.record_form.encode(record) == h.record_form.encode({**record, "chain": None})
    rescored = h.record_form.encode({**record, "risk_score": 0})
    assert rescored != h.record_form.encode(record)


def test_without_rules_records_are_stored_unscored() -> None:
    h = handler(None)
    stage = ChainStage(3, {}, -1, h.policy, h.seal_form, h.signer)
    record = codec.decode("AuditRecord", h.render(message(value(0, policy=DENY), offset=100), stage)[1])
    assert (record["risk_score"], record["rule_hits"]) == (None, [])


def test_hits_open_one_incident_per_rule_and_later_hits_update_it() -> None:
    h = handler()
    stage = ChainStage(3, {}, -1, h.policy, h.seal_form, h.signer)
    outputs = render_all(h, stage, inputs(7))
    entries = [codec.decode("Incident", i) for out in outputs for i in out[3]]
    gates = [e for e in entries if e["rule_id"] == "policy.executed_despite_decision"]
    # hits at n = 0, 3, 6; the rule is critical and contains, so each hit is written (and asks for suspension)
    assert [(e["change"], e["hit_count"], e["contain"]) for e in gates] == \
        [("opened", 1, True), ("hits", 2, True), ("hits", 3, True)]
    skew = [e for e in entries if e["rule_id"] == "integrity.clock_skew"]
    assert all(not e["contain"] for e in skew)
    assert len({e["incident_id"] for e in gates}) == 1
    assert all(e["agent_id"] == "agent-1" and e["actor"] == "pipeline" for e in entries)


def test_a_restart_from_the_saved_state_scores_and_groups_exactly_as_without_one() -> None:
    batch = inputs(60)
    h = handler()
    straight = render_all(h, ChainStage(3, {}, -1, h.policy, h.seal_form, h.signer), batch)

    first = handler()
    stage = ChainStage(3, {}, -1, first.policy, first.seal_form, first.signer)
    resumed = render_all(first, stage, batch[:25])
    saved = {s.agent_id: ChainState.from_json(s.to_json()) for s in checkpoint(stage)}
    second = handler()  # a new process: nothing but the saved states
    resumed += render_all(second, second.restore(3, saved, 100 + 24), batch[25:])
    assert resumed == straight
    assert any(out[3] for out in straight[25:]), "the resumed part must raise incidents for this test to mean much"
