"""The SDK an agent runtime imports to emit its actions to agent.actions.

    from agentaudit.emit import Emitter, Principal
    from agentaudit.signing import Ed25519Signer

    signer = Ed25519Signer.from_pem("support-bot-2026-01", "/run/secrets/agentaudit/support-bot.pem")
    with Emitter(bootstrap="127.0.0.1:9092", agent_id="support-bot", tenant_id="acme", signer=signer) as emitter:
        session = emitter.session(Principal("user", "alice"))
        session.emit("tool_call", tool="crm.lookup", resource="crm://customers/42",
                     parameters={"customer": 42}, outcome="success")

The kill switch (CC7.4): the emitter follows agent.control, and once the
registry suspends or retires the agent, emit() raises AgentSuspended; pass
on_control=callback to hear of every status change as it arrives, e.g. to
cancel the agent's current task.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from agentaudit.codec import Codec, SingleObjectCodec
from agentaudit.emit.control import ControlCallback, ControlWatcher
from agentaudit.emit.ids import uuid7
from agentaudit.emit.policy import BLOCK, BufferFull
from agentaudit.errors import AgentAuditError
from agentaudit.metrics import EMIT_BUFFER_FULL, EMIT_DELIVERY_FAILURES, EMIT_EVENTS
from agentaudit.signing import Signer, sign_action

log = logging.getLogger(__name__)

DeliveryErrorHandler = Callable[[str, KafkaError], None]


class EmitterFull(AgentAuditError):
    """The send buffer stayed full for longer than the BufferFull policy allows; the event was not accepted."""


class EmitterClosed(AgentAuditError):
    """emit() after close(), or close() could not deliver every event."""


@dataclass(frozen=True)
class Principal:
    """Who the agent acts for: type is user, service, agent or system."""

    type: str
    id: str


def _log_delivery_error(event_id: str, error: KafkaError) -> None:
    log.error("action %s was not delivered: %s", event_id, error)


class Emitter:
    """Sends one agent's actions to Kafka, never silently dropping one.

    Contract: the producer is idempotent with acks=all, keyed by agent id so the
    agent's actions stay in order. emit() does not wait for the broker: events
    go into a bounded buffer (buffer_max events) and are acknowledged in the
    background. When the buffer is full, `on_full` decides: block up to
    block_s for room, then raise EmitterFull. A broker that never acknowledges
    an event within delivery_timeout_s is reported to on_delivery_error and
    counted; close() flushes and raises EmitterClosed if any event is still
    unacknowledged, so a lost event is always visible to the runtime.
    With kill_switch (the default), emit() raises AgentSuspended once
    agent.control says the registry suspended or retired the agent.
    With a signer, every action is signed (key_id and signature set over its
    canonical form, schemas/signing.md) before it is encoded; without one,
    actions go out unsigned and attribution rejects them as `unsigned`.
    Thread-safe: sessions may emit from several threads.
    """

    def __init__(
        self,
        bootstrap: str,
        agent_id: str,
        tenant_id: str,
        *,
        topic: str = "agent.actions",
        codec: Codec | None = None,
        buffer_max: int = 100_000,
        on_full: BufferFull = BLOCK,
        delivery_timeout_s: float = 120.0,
        on_delivery_error: DeliveryErrorHandler = _log_delivery_error,
        producer_config: Mapping[str, Any] | None = None,
        signer: Signer | None = None,
        kill_switch: bool = True,
        control_topic: str | None = None,
        on_control: ControlCallback | None = None,
    ) -> None:
        if not agent_id or not tenant_id:
            raise ValueError("agent_id and tenant_id are required")
        self.agent_id = agent_id
        self.tenant_id = tenant_id
        self.topic = topic
        self._key = agent_id.encode()
        self._codec = codec or SingleObjectCodec()
        self._signer = signer
        self._on_full = on_full
        self._on_delivery_error = on_delivery_error
        self._closed = False
        self.delivered = 0
        self.failed = 0
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": buffer_max,
            "delivery.timeout.ms": int(delivery_timeout_s * 1000),
            "message.max.bytes": 4 * 1024 * 1024,
            "client.id": f"agentaudit-emit-{agent_id}",
        }
        config.update(producer_config or {})
        self._producer = Producer(config)
        self._control: ControlWatcher | None = None
        if kill_switch:
            # agent.control beside agent.actions, with the same topic prefix
            prefix = topic[: -len("agent.actions")] if topic.endswith("agent.actions") else ""
            self._control = ControlWatcher(bootstrap, agent_id, control_topic or f"{prefix}agent.control",
                                           self._codec, on_control)

    def session(self, principal: Principal, session_id: str | None = None) -> Session:
        """Start a session (one run or conversation) acting for principal."""
        return Session(self, principal, session_id or uuid7())

    def send(self, action: Mapping[str, Any]) -> str:
        """Encode and buffer one complete AgentAction; returns its event id.

        Sessions call this; use it directly only to send an action you built
        yourself (it must carry this emitter's agent id). With a signer, any
        key_id and signature the action has are replaced by the signer's.
        """
        if self._closed:
            raise EmitterClosed("emitter is closed")
        self.check_control()
        datum = dict(action) if self._signer is None else sign_action(action, self._signer)
        value = self._codec.encode("AgentAction", datum)
        event_id = str(action["event_id"])
        self._produce(event_id, value)
        EMIT_EVENTS.inc()
        return event_id

    def check_control(self) -> None:
        """Raise AgentSuspended if the registry has suspended or retired this agent (kill switch on)."""
        if self._control is not None:
            self._control.check()

    def _produce(self, event_id: str, value: bytes) -> None:
        deadline: float | None = None
        while True:
            try:
                self._producer.produce(self.topic, value, self._key, on_delivery=self._delivery(event_id))
                break
            except BufferError:
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._on_full.block_s
                if now >= deadline:
                    EMIT_BUFFER_FULL.labels(result="raised").inc()
                    raise EmitterFull(
                        f"send buffer full for {self._on_full.block_s}s; event {event_id} not accepted"
                    ) from None
                # Serving delivery reports is what frees room in the buffer.
                self._producer.poll(min(deadline - now, 0.05))
        if deadline is not None:
            EMIT_BUFFER_FULL.labels(result="waited").inc()
        self._producer.poll(0)

    def _delivery(self, event_id: str) -> Callable[[KafkaError | None, Message], None]:
        def done(error: KafkaError | None, _msg: Message) -> None:
            if error is None:
                self.delivered += 1
                return
            self.failed += 1
            EMIT_DELIVERY_FAILURES.inc()
            self._on_delivery_error(event_id, error)

        return done

    def flush(self, timeout_s: float = 30.0) -> int:
        """Wait for acknowledgements; returns how many events are still outstanding."""
        if self._closed:
            return 0  # close() flushed and released the producer
        return int(self._producer.flush(timeout_s))

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then release the producer's connections and threads."""
        if self._closed:
            return
        outstanding = self.flush(timeout_s)
        self._closed = True
        if self._control is not None:
            self._control.close()
        # librdkafka keeps reconnecting for as long as the handle lives; the
        # last reference going away is what shuts it down.
        del self._producer
        if outstanding or self.failed:
            raise EmitterClosed(
                f"{outstanding} events unacknowledged after {timeout_s}s and {self.failed} failed delivery"
            )

    def __enter__(self) -> Emitter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class Session:
    """One run of the agent for one principal; numbers its actions 1, 2, 3, …"""

    def __init__(self, emitter: Emitter, principal: Principal, session_id: str) -> None:
        self.emitter = emitter
        self.principal = principal
        self.session_id = session_id
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()

    def emit(
        self,
        action_type: str,
        *,
        outcome: str = "success",
        parameters: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        """Emit one action; returns its event id. Other AgentAction fields go in **fields.

        Raises AgentSuspended, before numbering the action, once the agent is suspended.
        """
        self.emitter.check_control()
        with self._lock:  # sequence order must match send order
            action: dict[str, Any] = {
                "event_id": uuid7(),
                "agent_id": self.emitter.agent_id,
                "session_id": self.session_id,
                "sequence": next(self._sequence),
                "tenant_id": self.emitter.tenant_id,
                "principal": {"type": self.principal.type, "id": self.principal.id},
                "action_type": action_type,
                "outcome": outcome,
                "parameters": None if parameters is None else json.dumps(parameters, separators=(",", ":")),
                "agent_time": time.time_ns() // 1000,
                **fields,
            }
            return self.emitter.send(action)
