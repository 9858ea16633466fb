"""Automatic containment (CC7.4): a critical incident whose rule says `contain` suspends its agent.

The processor marks an incident entry with contain=true when the rule asks
for containment and the hit is critical (every such hit gets an entry). This service consumes
audit.incidents and, for each such entry, suspends the agent through the
registry -- an audited change like any other, its actor this service and its
approver the rule (reviewed and merged as code, the rule is the standing
approval) -- which also tells the agent's runtime on agent.control in the same
transaction. It then writes a 'contained' entry on the incident's timeline
naming the registry change. People reinstate with `agentaudit agents
reactivate`, itself audited.

Delivery: offsets are committed only after an entry is handled, so a crash
handles it again; the registry refuses to suspend an agent that is no longer
active, which makes that repeat (and a processor replay of the same entry) a
no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message

from agentaudit.codec import Codec
from agentaudit.errors import AgentAuditError, TransientError
from agentaudit.incident.lifecycle import current_of, lifecycle_entry
from agentaudit.metrics import CONTAINMENT_ACTIONS
from agentaudit.registry.change import ChangeKind, RegistryChange
from agentaudit.registry.errors import RegistryRefusal
from agentaudit.registry.requests import ChangeRequest, SetStatus
from agentaudit.settings import Settings
from agentaudit.topics import Topic

log = logging.getLogger(__name__)

ACTOR = "agentaudit-containment"


class Registry(Protocol):
    def submit(self, request: ChangeRequest) -> RegistryChange: ...


def needs_containment(entry: Mapping[str, Any]) -> bool:
    """A containing hit: the one that opened the incident, or a later one (the agent reinstated and did it again)."""
    return entry["change"] in ("opened", "hits") and bool(entry["contain"])


def suspension_request(entry: Mapping[str, Any]) -> SetStatus:
    return SetStatus(
        agent_id=entry["agent_id"], kind=ChangeKind.SUSPEND, actor=ACTOR, approver=f"rule:{entry['rule_id']}",
        reason=f"incident {entry['incident_id']}: {entry['title']}",
    )


def contained_entry(entry: Mapping[str, Any], change: RegistryChange, now_us: int) -> dict[str, Any]:
    """The timeline entry recording the suspension, following the 'opened' entry."""
    current = current_of({**entry, "status": "open", "owner": entry["owner"] or ""})
    note = (f"agent {change.agent_id} suspended automatically: registry change {change.change_id} at position "
            f"{change.position}, approved by {change.approver}")
    return lifecycle_entry(current, "contained", ACTOR, note, None, now_us)


class Containment:
    """Handles incident entries one at a time; publish() must return only once the broker has the entry."""

    def __init__(self, registry: Registry, publish: Callable[[dict[str, Any]], None],
                 clock: Callable[[], int] = lambda: time.time_ns() // 1000) -> None:
        self.registry = registry
        self.publish = publish
        self.clock = clock

    def handle(self, entry: Mapping[str, Any]) -> RegistryChange | None:
        if not needs_containment(entry):
            return None
        try:
            change = self.registry.submit(suspension_request(entry))
        except RegistryRefusal as refusal:  # not active any more: already contained, retired or replayed
            log.info("incident %s: agent %s not suspended: %s", entry["incident_id"], entry["agent_id"], refusal)
            CONTAINMENT_ACTIONS.labels(result="refused").inc()
            return None
        log.warning("incident %s (%s): agent %s suspended, registry position %d",
                    entry["incident_id"], entry["rule_id"], entry["agent_id"], change.position)
        CONTAINMENT_ACTIONS.labels(result="suspended").inc()
        self.publish(contained_entry(entry, change, self.clock()))
        return change


def run_containment(settings: Settings, bootstrap: str, containment: Containment, codec: Codec,
                    stop: threading.Event) -> None:
    """Consume audit.incidents until `stop`, committing each entry after it was handled."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"{settings.topic_prefix}agentaudit-containment",
        "client.id": f"{settings.topic_prefix}agentaudit-containment",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    })
    consumer.subscribe([settings.topic(Topic.INCIDENTS)])
    try:
        while not stop.is_set():
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            if msg.error() is not None:
                _consumer_error(msg)
                continue
            _handle_until_done(containment, codec, msg, stop)
            consumer.commit(message=msg, asynchronous=False)
    finally:
        consumer.close()


def _handle_until_done(containment: Containment, codec: Codec, msg: Message, stop: threading.Event) -> None:
    where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
    try:
        entry = codec.decode("Incident", msg.value() or b"")
    except AgentAuditError as exc:  # stored by the sink as sink_decode; nothing to contain
        log.error("undecodable incident entry %s: %s", where, exc)
        return
    delay = 1.0
    while True:
        try:
            containment.handle(entry)
            return
        except (TransientError, KafkaException) as exc:
            if stop.is_set():
                raise
            log.warning("containment of %s failed, retrying in %.0fs: %s", where, delay, exc)
            stop.wait(delay)
            delay = min(delay * 2, 30.0)


def _consumer_error(msg: Message) -> None:
    error = msg.error()
    assert error is not None
    if error.fatal():
        raise KafkaException(error)
    if error.code() != KafkaError._PARTITION_EOF:
        log.warning("consumer error on %s[%s]: %s", msg.topic(), msg.partition(), error)
