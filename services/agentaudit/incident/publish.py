"""Writes one lifecycle entry to audit.incidents and waits for the broker to take it."""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from agentaudit.errors import TransientError
from agentaudit.settings import Settings
from agentaudit.topics import Topic


def publish_entry(settings: Settings, entry: dict[str, Any], timeout_s: float = 30.0) -> None:
    """Produce the Incident entry keyed by its agent; TransientError if the broker did not acknowledge it."""
    from agentaudit.codec.factory import make_codec
    from agentaudit.dev.kafka import resolve_bootstrap

    producer = Producer({
        "bootstrap.servers": resolve_bootstrap(settings),
        "enable.idempotence": True,
        "acks": "all",
        "client.id": f"{settings.topic_prefix}agentaudit-incidents",
    })
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _msg: Message) -> None:
        if error is not None:
            failures.append(error)

    value = make_codec(settings).encode("Incident", entry)
    producer.produce(settings.topic(Topic.INCIDENTS), value, entry["agent_id"].encode(), on_delivery=delivered)
    if producer.flush(timeout_s) or failures:
        reason = failures[0] if failures else f"no acknowledgement in {timeout_s:.0f}s"
        raise TransientError(f"incident change not written to {settings.topic(Topic.INCIDENTS)}: {reason}")
