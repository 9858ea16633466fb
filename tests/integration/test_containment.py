"""Containment on a real broker: a critical incident whose rule says contain suspends
its agent through the audited registry, the runtime hears it on agent.control and
its next emit raises; reactivation is audited too and lets the runtime act again."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from agentaudit.admin import ensure_topics
from agentaudit.codec import SingleObjectCodec
from agentaudit.emit import AgentSuspended, Emitter, Principal
from agentaudit.incident.containment import Containment, run_containment
from agentaudit.incident.grouping import IncidentGroups
from agentaudit.incident.publish import publish_entry
from agentaudit.keyring import Keyring
from agentaudit.registry.change import ChangeKind
from agentaudit.registry.model import AgentStatus
from agentaudit.registry.store import RegistryWriter
from agentaudit.settings import Settings
from agentaudit.topics import Topic
from tests.pipeline_support import wait_for
from tests.registry_support import register, set_status
from tests.unit.incident.test_grouping import FakeHit, action

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()


@dataclass(frozen=True)
class At:
    topic: str
    partition: int
    offset: int


def incident_entries(settings: Settings) -> list[dict[str, Any]]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "probe",
                         "enable.partition.eof": True})
    topic = settings.topic(Topic.INCIDENTS)
    try:
        found = []
        for partition in range(settings.partitions):
            consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
            while (msg := consumer.poll(5)) is not None and msg.error() is None:
                found.append(codec.decode("Incident", msg.value() or b""))
        return found
    finally:
        consumer.close()


def test_a_critical_contain_rule_suspends_the_agent_and_stops_its_runtime(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    keyring = Keyring.load(settings)
    heard: list[Mapping[str, Any]] = []
    stop = threading.Event()
    with RegistryWriter(settings, settings.kafka_bootstrap, keyring) as writer:
        writer.submit(register("billing-agent"))
        emitter = Emitter(settings.kafka_bootstrap, "billing-agent", "acme", topic=settings.topic(Topic.ACTIONS),
                          on_control=heard.append)
        session = emitter.session(Principal("user", "alice"))
        wait_for("the runtime to see its registration", lambda: [c["status"] for c in heard] == ["active"])
        session.emit("tool_call", tool="crm.lookup", outcome="success")

        hit = FakeHit(rule_id="secrets.private_key", severity="critical", contain=True)
        opened = IncidentGroups("billing-agent").hit(hit, {**action(0), "agent_id": "billing-agent"},
                                                     At("agent.actions", 0, 7), 1_000, 90, contained=True)
        assert opened is not None
        benign = IncidentGroups("billing-agent").hit(FakeHit(), {**action(1), "agent_id": "billing-agent"},
                                                     At("agent.actions", 0, 8), 1_000, 40)
        assert benign is not None
        producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
        for entry in (benign, opened, opened):  # the second copy: a processor replay
            producer.produce(settings.topic(Topic.INCIDENTS), codec.encode("Incident", entry), b"billing-agent")
        assert producer.flush(10) == 0

        containment = Containment(writer, lambda entry: publish_entry(settings, entry))
        thread = threading.Thread(target=run_containment,
                                  args=(settings, settings.kafka_bootstrap, containment, codec, stop), daemon=True)
        thread.start()
        try:
            wait_for("the runtime to hear of the suspension", lambda: heard[-1]["status"] == "suspended")
            with pytest.raises(AgentSuspended, match="billing-agent is suspended.*rule:secrets.private_key"):
                session.emit("tool_call", tool="crm.lookup", outcome="success")

            wait_for("the contained entry", lambda: any(e["change"] == "contained" for e in incident_entries(settings)))
            contained = [e for e in incident_entries(settings) if e["change"] == "contained"]
            assert len(contained) == 1  # the replayed entry found the agent already suspended
            assert (contained[0]["incident_id"], contained[0]["status"], contained[0]["actor"]) == \
                (opened["incident_id"], "contained", "agentaudit-containment")

            suspension = writer.log.changes_of("billing-agent")[-1]
            assert (suspension.kind, suspension.actor, suspension.approver) == \
                (ChangeKind.SUSPEND, "agentaudit-containment", "rule:secrets.private_key")
            assert suspension.definition.status is AgentStatus.SUSPENDED
            assert opened["incident_id"] in suspension.reason

            writer.submit(set_status("billing-agent", ChangeKind.REACTIVATE, actor="carol", approver="dave"))
            wait_for("the runtime to hear of the reactivation", lambda: heard[-1]["status"] == "active")
            session.emit("tool_call", tool="crm.lookup", outcome="success")
            assert [c["change"] for c in heard] == ["register", "suspend", "reactivate"]
        finally:
            stop.set()
            thread.join(30)
            emitter.close()
