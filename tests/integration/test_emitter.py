from __future__ import annotations

import pytest

from agentaudit.admin import ensure_topics
from agentaudit.emit import Emitter, Principal
from agentaudit.registry.model import KeyAlgorithm
from agentaudit.settings import Settings
from agentaudit.signing import Ed25519Signer, canonical_bytes, verify
from agentaudit.topics import Topic
from tests.pipeline_support import CODEC, consume_all

pytestmark = pytest.mark.integration


def test_actions_arrive_keyed_by_agent_in_session_order(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    with Emitter(settings.kafka_bootstrap, "agent-7", "acme", topic=settings.topic(Topic.ACTIONS)) as emitter:
        first = emitter.session(Principal("user", "alice"))
        second = emitter.session(Principal("service", "nightly-job"))
        ids = [s.emit("data_read", resource=f"db://t/{i}") for i in range(40) for s in (first, second)]
    messages = consume_all(settings, Topic.ACTIONS, len(ids))
    assert {m.key() for m in messages} == {b"agent-7"}
    assert len({m.partition() for m in messages}) == 1  # one agent, one partition, one order
    actions = [CODEC.decode("AgentAction", m.value()) for m in sorted(messages, key=lambda m: m.offset())]
    assert [a["event_id"] for a in actions] == ids
    for session in (first, second):
        sequences = [a["sequence"] for a in actions if a["session_id"] == session.session_id]
        assert sequences == list(range(1, 41))
    assert {a["principal"]["id"] for a in actions} == {"alice", "nightly-job"}


def test_signed_actions_verify_after_the_broker(settings: Settings) -> None:
    signer = Ed25519Signer.generate("agent-8-key-1")
    ensure_topics(settings, settings.kafka_bootstrap)
    with Emitter(settings.kafka_bootstrap, "agent-8", "acme", topic=settings.topic(Topic.ACTIONS), signer=signer) as emitter:
        session = emitter.session(Principal("user", "alice"))
        ids = [session.emit("tool_call", tool="crm.lookup", attributes={"n": str(i), "a": "x"}) for i in range(20)]
    messages = consume_all(settings, Topic.ACTIONS, len(ids))
    actions = [CODEC.decode("AgentAction", m.value()) for m in messages]
    assert sorted(a["event_id"] for a in actions) == sorted(ids)
    for action in actions:
        assert action["key_id"] == "agent-8-key-1"
        assert verify(KeyAlgorithm.ED25519, signer.public_key_bytes(), canonical_bytes(action), action["signature"])
