"""The processor as a faust-streaming app: moves bytes, batches, and keeps order.

Contract (at-least-once, replay-deterministic): actions are taken in batches
with stream.take_events; each output goes to the same partition number of
audit.records or audit.rejected as its input had on agent.actions, so an
agent's records stay in order. Outputs go through an idempotent
confluent-kafka producer that is flushed before the handler returns; faust acks
a batch's events, and later commits their offsets, only after that, so a crash
can only repeat outputs, never lose them. (Faust's own aiokafka producer, sent
to per message, relayed half as many actions per second: see README,
"Benchmarks".) Repeats are byte-identical
(validate.py reads no clock) and the sink drops them by (source partition,
source offset).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import traceback
from collections.abc import Sequence
from typing import Any

import faust
from confluent_kafka import KafkaError, Message, Producer
from faust.types import EventT

from agentaudit.codec import Codec
from agentaudit.errors import PermanentError
from agentaudit.metrics import (
    PROCESS_BATCH,
    PROCESS_IN,
    PROCESS_INGEST_LAG,
    PROCESS_RECORDS,
    PROCESS_REJECTED,
    PROCESS_REJECTION_ALARM,
)
from agentaudit.process.validate import Input, Limits, Outcome, evaluate, reject
from agentaudit.settings import Settings
from agentaudit.topics import MIB, Topic

log = logging.getLogger(__name__)

# A batch must be this large before its rejection share can raise the alarm;
# a handful of bad events in a quiet minute is bad luck, not a bad deploy.
ALARM_MIN_BATCH = 100
EXIT_TEMPFAIL = 75  # sysexits.h: try again later


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_action_bytes=settings.max_action_bytes,
        max_future_skew_us=int(settings.max_future_skew_s * 1e6),
        max_past_skew_us=int(settings.max_past_skew_s * 1e6),
    )


def to_input(event: EventT[bytes]) -> Input:
    msg = event.message
    return Input(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        timestamp_ms=round(msg.timestamp * 1000),
        timestamp_type=msg.timestamp_type,
    )


class BatchHandler:
    """Evaluates a batch of consumed events and publishes the outcomes.

    Blocking contract: __call__ returns only once the broker has acknowledged
    every output of the batch. Faust's take_events acks a batch's events in a
    `finally`, even when the handler raises or is cancelled, so this handler
    must never leave with outputs in doubt: it waits out a slow broker, flushes
    synchronously when cancelled, and stops the process outright (fail-stop,
    exit code 75) if the broker refused an output; the restart replays the
    uncommitted batch, which yields identical outputs.
    """

    def __init__(self, settings: Settings, codec: Codec, producer: Producer) -> None:
        self.codec = codec
        self.limits = limits_of(settings)
        self.producer = producer
        self.records_topic = settings.topic(Topic.RECORDS)
        self.rejected_topic = settings.topic(Topic.REJECTED)
        self.alarm_ratio = settings.rejection_alarm_ratio
        self._failures: list[KafkaError] = []

    async def __call__(self, events: Sequence[EventT[bytes]]) -> None:
        PROCESS_BATCH.observe(len(events))
        PROCESS_IN.inc(len(events))
        rejected = 0
        newest_ingest_ms = 0
        for event in events:
            msg = to_input(event)
            topic, value = self.render(msg)
            self._produce(topic, msg, value)
            rejected += topic == self.rejected_topic
            newest_ingest_ms = max(newest_ingest_ms, msg.timestamp_ms)
        await self._flush()
        PROCESS_RECORDS.inc(len(events) - rejected)
        PROCESS_INGEST_LAG.observe(max(0.0, time.time() - newest_ingest_ms / 1000))
        self._check_alarm(len(events), rejected)

    def render(self, msg: Input) -> tuple[str, bytes]:
        """The output topic and encoded value for one input.

        An unexpected error on one input becomes that input's rejection: a bug
        that trips on one odd input must not stop the stream or lose the input,
        and a bug that trips on every input shows up as the rejection alarm.
        """
        try:
            outcome = evaluate(msg, self.codec, self.limits)
            if outcome.record is not None:
                return self.records_topic, self.codec.encode("AuditRecord", outcome.record)
        except Exception as exc:
            log.exception("processing error on %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            error = PermanentError("processing_error", f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})")
            outcome = reject(msg, error, None)
        rejection: dict[str, Any] = outcome.rejection  # type: ignore[assignment]
        PROCESS_REJECTED.labels(reason=rejection["reason_code"]).inc()
        log.warning(
            "rejected %s[%d]@%d: %s: %s",
            msg.topic, msg.partition, msg.offset, rejection["reason_code"], rejection["reason"],
        )
        return self.rejected_topic, self.codec.encode("Rejection", rejection)

    def _produce(self, topic: str, msg: Input, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value, msg.key, partition=msg.partition, on_delivery=self._delivered)
                return
            except BufferError:  # local queue full: serve delivery reports to make room
                self.producer.poll(0.1)

    def _delivered(self, error: KafkaError | None, _msg: Message) -> None:
        if error is not None:
            self._failures.append(error)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while remaining := await loop.run_in_executor(None, self.producer.flush, 10.0):
                log.warning("waiting for the broker to acknowledge %d outputs", remaining)
        except asyncio.CancelledError:
            # Shutting down: faust will ack and commit this batch as soon as we
            # yield, so block the event loop until every output is delivered.
            self.producer.flush(30.0)
            raise
        if self._failures:
            log.critical(
                "broker refused %d outputs (%s); stopping without acking the batch",
                len(self._failures), self._failures[0],
            )
            logging.shutdown()
            os._exit(EXIT_TEMPFAIL)

    def _check_alarm(self, size: int, rejected: int) -> None:
        if size < ALARM_MIN_BATCH:
            return
        alarmed = rejected / size > self.alarm_ratio
        PROCESS_REJECTION_ALARM.set(1 if alarmed else 0)
        if alarmed:
            log.error(
                "rejection alarm: %d of %d actions in one batch rejected (limit %.0f%%); "
                "check the emitters' schema and clocks before trusting this stream",
                rejected, size, self.alarm_ratio * 100,
            )


def output_producer(settings: Settings, bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.max.bytes": 9 * MIB,
            "client.id": f"{settings.topic_prefix}agentaudit-processor",
        }
    )


def make_app(settings: Settings, bootstrap: str, codec: Codec) -> faust.App:
    """Build the processor app; topics must already exist (agentaudit topics ensure)."""
    datadir = settings.home / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}agentaudit-processor",
        broker=[f"kafka://{server}" for server in bootstrap.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,  # metrics are served by prometheus-client instead
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        # Our topics exist (ensure_topics ran first); this lets faust create its
        # own internal leader-election topic instead of logging its absence.
        topic_replication_factor=settings.replication_factor,
        consumer_max_fetch_size=9 * MIB,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, settings.process_batch * 2),
    )
    actions = app.topic(settings.topic(Topic.ACTIONS), key_type=bytes, value_type=bytes)
    handle = BatchHandler(settings, codec, output_producer(settings, bootstrap))

    @app.agent(actions, name="process-actions")
    async def process(stream: faust.StreamT[bytes]) -> None:
        try:
            # take_events (not take): each event carries its partition, offset and broker timestamp.
            batches = stream.take_events(  # type: ignore[attr-defined]
                settings.process_batch, within=settings.process_within_s
            )
            async for events in batches:
                await handle(events)
        except Exception:
            # Leaving the loop would let take_events ack a batch in doubt.
            log.critical("processor failed; stopping without acking the batch", exc_info=True)
            logging.shutdown()
            os._exit(EXIT_TEMPFAIL)

    return app
