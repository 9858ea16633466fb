"""Helpers for tests that run the pipeline's services as real processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from agentaudit.codec import SingleObjectCodec
from agentaudit.demo.stack import Service
from agentaudit.settings import Settings
from agentaudit.topics import MIB, Topic

CODEC = SingleObjectCodec()


def raw_producer(settings: Settings) -> Producer:
    return Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True,
                     "message.max.bytes": 4 * MIB})


def consume_all(settings: Settings, topic: Topic, expected: int, timeout_s: float = 90.0) -> list[Any]:
    """Read `expected` messages from a pipeline topic (from the start), or fail."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"test-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "fetch.message.max.bytes": 9 * MIB})
    consumer.subscribe([settings.topic(topic)])
    messages: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                messages.append(msg)
    finally:
        consumer.close()
    assert len(messages) >= expected, f"{topic.value}: got {len(messages)} of {expected} within {timeout_s}s"
    return messages


def read_to_end(bootstrap: str, topic: str, timeout_s: float = 120.0) -> list[tuple[int, bytes | None, bytes | None]]:
    """(partition, key, value) of every message now in `topic`, read up to each partition's end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{time.time_ns()}",
                         "enable.auto.commit": False, "fetch.message.max.bytes": 9 * MIB})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[tuple[int, bytes | None, bytes | None]] = []
        position = {p: 0 for p in partitions}
        deadline = time.monotonic() + timeout_s
        while any(position[p] < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"{topic}: read {len(out)} messages, not to the end, in {timeout_s}s"
            for msg in consumer.consume(1000, timeout=0.5):
                assert msg.error() is None, msg.error()
                p = int(msg.partition() or 0)
                if position[p] < ends[p]:
                    out.append((p, msg.key(), msg.value()))
                position[p] = int(msg.offset() or 0) + 1
        return out
    finally:
        consumer.close()


@contextmanager
def running(service: Service) -> Iterator[Service]:
    service.start()
    try:
        yield service
    finally:
        code = service.stop()
        assert code in (0, -15, None), f"{service.name} exited with {code}:\n{service.log_tail(40)}"


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 90.0) -> None:
    """Poll condition until true; a Kafka error while asking counts as "not yet"
    (e.g. NOT_COORDINATOR while a group coordinator loads under load)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except KafkaException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)
