"""The kill switch in the runtime: follows agent.control and stops a suspended agent (CC7.4).

A ControlWatcher reads agent.control (one compacted partition, keyed by agent
id) from the beginning in a background thread and keeps the newest status of
one agent. The Emitter consults it on every emit: once the registry has
suspended or retired the agent, emit raises AgentSuspended, and the runtime's
callback (if any) has already been told, so an agent loop that emits before
it acts stops before its next action. Until the watcher has read anything the
agent counts as active: the pipeline itself refuses a suspended agent's
actions (attribution rejects them as agent_suspended) whatever the runtime does.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from agentaudit.codec import Codec
from agentaudit.errors import AgentAuditError

log = logging.getLogger(__name__)

ControlCallback = Callable[[Mapping[str, Any]], None]
STOPPED = ("suspended", "retired")


class AgentSuspended(AgentAuditError):
    """The registry suspended or retired this agent: the runtime must stop acting."""


class ControlWatcher:
    """Keeps one agent's newest AgentControl; calls on_change for each new one, from its thread."""

    def __init__(
        self, bootstrap: str, agent_id: str, topic: str, codec: Codec, on_change: ControlCallback | None = None,
        consumer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.agent_id = agent_id
        self._key = agent_id.encode()
        self._codec = codec
        self._on_change = on_change
        self._latest: Mapping[str, Any] | None = None
        self._stop = threading.Event()
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": f"agentaudit-control-{uuid.uuid4()}",  # assign() only, never committed
            "enable.auto.commit": False,
            "isolation.level": "read_committed",  # only registry changes that committed
            "client.id": f"agentaudit-control-{agent_id}",
        }
        config.update(consumer_config or {})
        self._consumer = Consumer(config)
        self._topic = topic
        self._history_end = 0  # messages before this offset were written before the watcher started
        self._consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        self._thread = threading.Thread(target=self._run, name=f"agentaudit-control-{agent_id}", daemon=True)
        self._thread.start()

    @property
    def latest(self) -> Mapping[str, Any] | None:
        return self._latest

    def check(self) -> None:
        """Raise AgentSuspended if the agent's newest status stops it."""
        latest = self._latest
        if latest is not None and latest["status"] in STOPPED:
            raise AgentSuspended(
                f"agent {self.agent_id} is {latest['status']} (registry change {latest['change_id']} by "
                f"{latest['actor']}, approved by {latest['approver']}: {latest['reason']}); it must not act"
            )

    def _run(self) -> None:
        try:  # in this thread, not the constructor: an emitter never waits for the broker to start
            self._history_end = self._consumer.get_watermark_offsets(TopicPartition(self._topic, 0), timeout=2)[1]
        except KafkaException as exc:  # only the logging depends on it
            log.info("agent.control end offset unknown (%s); every status read will be logged", exc)
        while not self._stop.is_set():
            msg = self._consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("reading agent.control: %s", error)
                continue
            if msg.key() != self._key or not msg.value():
                continue
            try:
                control = self._codec.decode("AgentControl", msg.value() or b"")
            except AgentAuditError as exc:  # a bad message must not stop the kill switch
                log.error("undecodable agent.control message at offset %s: %s", msg.offset(), exc)
                continue
            self._latest = control
            if (msg.offset() or 0) >= self._history_end:  # news, not the history read at start
                level = logging.WARNING if control["status"] in STOPPED else logging.INFO
                log.log(level, "agent %s is now %s: %s", self.agent_id, control["status"], control["reason"])
            if self._on_change is not None:
                try:
                    self._on_change(control)
                except Exception:  # the runtime's callback failing must not stop the watcher
                    log.exception("on_control callback failed")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()
