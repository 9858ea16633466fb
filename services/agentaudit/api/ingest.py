"""POST /v1/actions: agent runtimes that cannot reach Kafka emit over HTTP with an agent key.

The body is the action exactly as the Emitter would produce it (Avro, the
pipeline's encoding, signed by the agent's own key); the API checks only that
the key may speak for the action's agent and tenant, and hands the bytes on
to agent.actions unchanged, keyed by agent id, waiting for the broker's
acknowledgement. Everything else — schema, signature, session order, clock —
is the processor's job, exactly as for an action that came through Kafka, so
a forged or malformed action that decodes ends in audit.rejected with its
reason and bytes. An API key is not an agent's signing key: a stolen agent
API key can deliver actions, but not sign them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from agentaudit.api.access import AccessDenied, Caller
from agentaudit.api.params import BadRequest
from agentaudit.codec.base import Codec
from agentaudit.errors import DecodeError, TransientError
from agentaudit.settings import Settings
from agentaudit.topics import Topic


@dataclass(frozen=True)
class Delivered:
    event_id: str
    topic: str
    partition: int
    offset: int


def check_sender(caller: Caller, codec: Codec, value: bytes) -> tuple[str, str]:
    """(agent id, event id) of an action this caller may deliver; BadRequest or AccessDenied saying why not."""
    if not value:
        raise BadRequest("the body is empty: send the action's Avro bytes (application/octet-stream)")
    try:
        action = codec.decode("AgentAction", value)
    except DecodeError as exc:
        raise BadRequest(f"the body is not an AgentAction in this pipeline's encoding: {exc}") from None
    agent, tenant = str(action["agent_id"]), str(action["tenant_id"])
    if agent != caller.agent_id or not caller.may_see(tenant):
        raise AccessDenied(f"key {caller.key_id} emits for agent {caller.agent_id} of tenant "
                           f"{', '.join(caller.tenants)}, not for {agent} of {tenant}")
    return agent, str(action["event_id"])


class ActionRelay:
    """One idempotent producer to agent.actions, shared by the API's threads (confluent-kafka's is thread-safe)."""

    def __init__(self, settings: Settings, bootstrap: str, timeout_s: float = 30.0) -> None:
        self._topic = settings.topic(Topic.ACTIONS)
        self._timeout_s = timeout_s
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                   "client.id": f"{settings.topic_prefix}agentaudit-api"})

    def deliver(self, agent_id: str, event_id: str, value: bytes) -> Delivered:
        done = threading.Event()
        outcome: list[KafkaError | Message] = []

        def delivered(error: KafkaError | None, message: Message) -> None:
            outcome.append(error if error is not None else message)
            done.set()

        self._producer.produce(self._topic, value, agent_id.encode(), on_delivery=delivered)
        waited = 0.0
        while not done.is_set() and waited < self._timeout_s:
            self._producer.poll(0.1)
            waited += 0.1
        if not outcome or isinstance(outcome[0], KafkaError):
            reason = outcome[0] if outcome else f"no acknowledgement in {self._timeout_s:.0f}s"
            raise TransientError(f"action {event_id} not written to {self._topic}: {reason}")
        message = outcome[0]
        return Delivered(event_id, self._topic, int(message.partition() or 0), int(message.offset() or 0))

    def close(self) -> None:
        self._producer.flush(self._timeout_s)
