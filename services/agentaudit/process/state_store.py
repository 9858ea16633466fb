"""Persists the chain stage's per-agent state in a compacted Kafka topic.

agentaudit.process-state has the partitioning of agent.actions: the states of
the agents read from input partition p live in state partition p, keyed by
agent id, plus one watermark entry per partition (the highest input offset
whose outputs and state are all durable). The processor writes states only
after the broker acknowledged every output of the batch, so whatever a
restart restores is backed by outputs that exist; writes to one partition
arrive in order (idempotent producer), so a watermark that arrived implies
the states before it did.

A checkpoint may also carry the erasure markers its batch left to write
(privacy.erasure): written before the watermark, deleted (a tombstone) once
the markers are on privacy.subject-keys, so a crash between the two makes the
restart write them rather than lose them.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from agentaudit.chain.state import ChainState
from agentaudit.errors import TransientError
from agentaudit.settings import Settings
from agentaudit.topics import Topic

log = logging.getLogger(__name__)

WATERMARK_KEY = b"\x00watermark"  # never an agent id: agent ids are validated non-empty text keys
ERASURES_KEY = b"\x00erasures"  # pending erasure markers of the partition, opaque here (privacy.erasure)
NO_WATERMARK = -1

DeliveryCallback = Callable[[KafkaError | None, Message], None]


class StateStore:
    """Loads and saves ChainStates of one processor; save() only queues, the caller flushes."""

    def __init__(self, settings: Settings, bootstrap: str, producer: Producer) -> None:
        self.topic = settings.topic(Topic.PROCESS_STATE)
        self.bootstrap = bootstrap
        self.producer = producer
        self.client_id = f"{settings.topic_prefix}agentaudit-processor-state"

    def load(self, partition: int, timeout_s: float = 60.0) -> tuple[dict[str, ChainState], int, bytes]:
        """Every agent's newest state in `partition`, the partition's watermark, and its pending erasures
        (b"" when none)."""
        started = time.monotonic()
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"{self.client_id}-{uuid.uuid4()}",  # assign() only, never committed
                "enable.auto.commit": False,
                "client.id": self.client_id,
                "isolation.level": "read_committed",
            }
        )
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), timeout=10.0)
            states: dict[str, ChainState] = {}
            watermark = NO_WATERMARK
            erasures = b""
            if high <= low:
                return states, watermark, erasures
            consumer.assign([TopicPartition(self.topic, partition, OFFSET_BEGINNING)])
            position = low
            while position < high:
                if time.monotonic() - started > timeout_s:
                    raise TransientError(f"restoring {self.topic}[{partition}] took over {timeout_s:.0f}s")
                msg = consumer.poll(1.0)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        break
                    raise TransientError(f"reading {self.topic}[{partition}]: {error}")
                position = (msg.offset() or 0) + 1
                key, value = msg.key(), msg.value()
                if key == WATERMARK_KEY:
                    watermark = int(value) if value else NO_WATERMARK
                elif key == ERASURES_KEY:
                    erasures = value or b""
                elif key and value:
                    states[key.decode()] = ChainState.from_json(value)
                elif key:  # a tombstone: the state was deleted on purpose
                    states.pop(key.decode(), None)
            log.info(
                "restored %d chain states of partition %d (watermark %d) in %.1fs",
                len(states), partition, watermark, time.monotonic() - started,
            )
            return states, watermark, erasures
        finally:
            consumer.close()

    def save(self, partition: int, states: Iterable[ChainState], watermark: int, on_delivery: DeliveryCallback,
             erasures: bytes | None = None) -> None:
        """Queue a checkpoint; erasures, when given, are the markers it leaves to write."""
        for state in states:
            self._produce(partition, state.agent_id.encode(), state.to_json(), on_delivery)
        if erasures is not None:
            self._produce(partition, ERASURES_KEY, erasures, on_delivery)
        self._produce(partition, WATERMARK_KEY, str(watermark).encode(), on_delivery)

    def erasures_written(self, partition: int, on_delivery: DeliveryCallback) -> None:
        """Queue the tombstone that says the partition's pending erasure markers are written."""
        self._produce(partition, ERASURES_KEY, None, on_delivery)

    def _produce(self, partition: int, key: bytes, value: bytes | None, on_delivery: DeliveryCallback) -> None:
        while True:
            try:
                self.producer.produce(self.topic, value, key, partition=partition, on_delivery=on_delivery)
                return
            except BufferError:
                self.producer.poll(0.1)
