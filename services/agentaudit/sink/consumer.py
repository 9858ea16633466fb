"""The sink's Kafka loop: consume, de-duplicate, insert, then commit.

See Sink for the delivery contract.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, KafkaException, TopicPartition

from agentaudit.codec import Codec
from agentaudit.errors import PermanentError, TransientError
from agentaudit.metrics import SINK_DECODE_ALARM, SINK_DECODE_FAILURES, SINK_DUPLICATES, SINK_LAG
from agentaudit.settings import Settings
from agentaudit.sink.batch import Batch, Entry, HighWater, month_runs, ranges_of
from agentaudit.sink.latency import observe_end_to_end
from agentaudit.sink.rows import (
    DEDUP_KEY_SQL,
    ALERTS_TABLE,
    INCIDENTS_TABLE,
    INGEST_TIME,
    RECORDS_TABLE,
    REJECTIONS_TABLE,
    SEALS_TABLE,
    SOURCE,
    Row,
    alert_row,
    incident_row,
    record_row,
    registry_change_row,
    rejection_row,
    seal_row,
    undecodable_row,
)
from agentaudit.registry.rows import REGISTRY_TABLE
from agentaudit.sink.writer import BatchWriter, dedup_token, describe_ranges

from agentaudit.store.client import quote_identifier, translate_errors
from agentaudit.topics import MIB, Topic

log = logging.getLogger(__name__)

# Most messages taken from the client per consume() call; the batch limit
# (settings.sink_batch) bounds what is held between inserts.
CONSUME_CHUNK = 5000
# Longest time consume() blocks, so a stop request is seen promptly.
POLL_S = 0.2
# A batch must hold this many messages before its decode failures can raise
# the alarm (the processor uses the same floor for its rejection alarm).
ALARM_MIN_BATCH = 100


class Message(Protocol):
    """The part of confluent_kafka.Message the sink reads."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def timestamp(self) -> tuple[int, int]: ...
    def error(self) -> KafkaError | None: ...


def make_consumer(settings: Settings, bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{settings.topic_prefix}agentaudit-sink",
            "client.id": f"{settings.topic_prefix}agentaudit-sink",
            # Offsets are committed by hand, only after ClickHouse took the rows.
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            # A processor transaction that aborted never reaches the audit tables.
            "isolation.level": "read_committed",
            # A sink that starts after the processor must still store everything.
            "auto.offset.reset": "earliest",
            # audit.rejected holds inputs of up to 8 MiB with their envelope.
            "fetch.max.bytes": 64 * MIB,
            "max.partition.fetch.bytes": 16 * MIB,
            # An insert may wait out a ClickHouse restart between consume() calls.
            "max.poll.interval.ms": 600_000,
            # Heartbeats come from librdkafka's own thread, so a slow insert does
            # not expire the session; a short one lets a crashed sink's partitions
            # move to its replacement in seconds rather than the default 45.
            "session.timeout.ms": 10_000,
        }
    )


class Sink:
    """Stores audit.records, .rejected, .seals, .incidents, .alerts and agent.registry in ClickHouse, each once.

    Commit contract: offsets are committed only after ClickHouse accepted every
    row of the batch; a crash at any point replays from the last commit. That
    alone is at-least-once; three things make it exactly-once:

    1. Replay de-duplication by source position. Upstream, the processor is
       at-least-once and writes every output for agent.actions partition p to
       partition p of audit.records / audit.rejected, in source-offset order;
       after a processor crash it may emit the tail again (the same
       source_partition and source_offset, byte-identical). So, per table and
       source (topic, partition), the sink keeps a high-water mark: on each
       partition assignment it reads max(source_offset) from ClickHouse (an
       aggregate projection answers that), and it drops every incoming row at
       or below the mark, counting it in agentaudit_sink_duplicates_dropped_total.
       The same covers the sink's own crash: rows inserted but not committed
       come back on restart and are dropped. This relies on the processor
       never emitting a source offset after a higher one of the same source
       partition except as such a replay (a zombie processor still writing
       after its successor started would break it; fencing is the processor's
       job).
    2. Each insert is atomic with respect to that mark: rows are inserted in
       arrival order, one calendar month (one table partition) per insert, so
       whatever a crash leaves stored is a prefix of each source partition's
       offsets, and the mark read back after the crash is exact.
    3. A retried insert carries the same insert_deduplication_token, derived
       from the Kafka offset ranges behind it, so an insert that landed but
       whose answer was lost is not stored twice.

    A message the sink cannot decode is not dropped: it is stored in
    audit_rejections with reason_code 'sink_decode', its own topic, partition
    and offset as source, and its bytes.

    Blocking: run() polls Kafka with short timeouts and checks `stop` between
    polls; when ClickHouse is unavailable it keeps the batch, pauses the
    partitions and retries, so memory stays bounded. On stop it flushes the
    current batch, commits and closes the consumer. Failures are logged with
    topic[partition]@offset.
    """

    def __init__(
        self,
        settings: Settings,
        consumer: Any,
        client: Client,
        codec: Codec,
        writer: BatchWriter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.client = client
        self.codec = codec
        self.writer = writer or BatchWriter(client, settings.clickhouse_database)
        self.clock = clock
        self.records_topic = settings.topic(Topic.RECORDS)
        self.rejected_topic = settings.topic(Topic.REJECTED)
        self.seals_topic = settings.topic(Topic.SEALS)
        self.registry_topic = settings.topic(Topic.REGISTRY)
        self.incidents_topic = settings.topic(Topic.INCIDENTS)
        self.alerts_topic = settings.topic(Topic.ALERTS)
        self.high_water = HighWater()
        self.batch = Batch()
        self._marks_stale = True
        self._paused = False
        self._retry_at = 0.0
        self._retry_delay = 0.0
        self._stop = threading.Event()
        self._decode_failures = 0

    # -- the loop -------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._stop = stop
        self.consumer.subscribe(
            [self.records_topic, self.rejected_topic, self.seals_topic, self.registry_topic, self.incidents_topic,
             self.alerts_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not stop.is_set():
                self.step()
            self._final_flush()
        finally:
            self.consumer.close()

    def step(self) -> None:
        """One consume() and, when the batch is full or old enough, one flush."""
        room = max(1, min(CONSUME_CHUNK, self.settings.sink_batch - self.batch.messages))
        messages = self.consumer.consume(num_messages=room, timeout=self._poll_timeout())
        if messages and self._marks_stale:
            self._load_marks()
        for msg in messages:
            error = msg.error()
            if error is None:
                self.handle(msg)
            elif error.fatal():
                raise KafkaException(error)
            else:
                log.warning("consumer error on %s[%s]: %s", msg.topic(), msg.partition(), error)
        if self._due():
            self.flush()

    def _poll_timeout(self) -> float:
        if self._paused:  # waiting for ClickHouse: sleep in consume() until the retry
            deadline = self._retry_at
        elif self.batch.started is None:
            return POLL_S
        else:
            deadline = self.batch.started + self.settings.sink_linger_s
        return max(0.0, min(POLL_S, deadline - self.clock()))

    def _due(self) -> bool:
        if self.batch.started is None:
            return False
        now = self.clock()
        if self._paused:
            return now >= self._retry_at
        return (
            self.batch.messages >= self.settings.sink_batch
            or now - self.batch.started >= self.settings.sink_linger_s
        )

    # -- one message ----------------------------------------------------------

    def handle(self, msg: Message) -> None:
        """Turn one consumed message into at most one pending row."""
        topic, partition, offset = str(msg.topic()), int(msg.partition() or 0), int(msg.offset() or 0)
        self.batch.consumed(topic, partition, offset, self.clock())
        table, row = self.to_row(msg, topic, partition, offset)
        src_topic, src_partition, src_offset = (row[i] for i in SOURCE[table])
        if not self.high_water.admit(table, src_topic, src_partition, src_offset):
            SINK_DUPLICATES.labels(table=table).inc()
            log.debug("replay of %s[%d]@%d (from %s[%d]@%d) dropped", src_topic, src_partition, src_offset, topic, partition, offset)
            return
        self.batch.add(table, Entry(row, topic, partition, offset))

    def to_row(self, msg: Message, topic: str, partition: int, offset: int) -> tuple[str, Row]:
        value = msg.value() or b""
        try:
            if topic == self.records_topic:
                return RECORDS_TABLE, record_row(self.codec.decode("AuditRecord", value), value)
            if topic == self.rejected_topic:
                return REJECTIONS_TABLE, rejection_row(self.codec.decode("Rejection", value), value)
            if topic == self.seals_topic:
                return SEALS_TABLE, seal_row(self.codec.decode("Seal", value), value)
            if topic == self.registry_topic:
                return REGISTRY_TABLE, registry_change_row(self.codec.decode("RegistryChange", value), value)
            if topic == self.incidents_topic:
                incident = self.codec.decode("Incident", value)
                return INCIDENTS_TABLE, incident_row(incident, value, topic, partition, offset)
            if topic == self.alerts_topic:
                return ALERTS_TABLE, alert_row(self.codec.decode("AlertDelivery", value), topic, partition, offset)
            reason = f"message from unexpected topic {topic}"
        except PermanentError as exc:
            reason = f"{exc.code}: {exc.reason}"
        except (KeyError, TypeError, ValueError) as exc:
            # Decoded, but not into the shape a row needs: still keep the bytes.
            reason = f"row: {type(exc).__name__}: {exc}"
        logical = {self.records_topic: Topic.RECORDS, self.seals_topic: Topic.SEALS,
                   self.registry_topic: Topic.REGISTRY, self.incidents_topic: Topic.INCIDENTS,
                   self.alerts_topic: Topic.ALERTS}.get(topic, Topic.REJECTED).value
        SINK_DECODE_FAILURES.labels(topic=logical).inc()
        self._decode_failures += 1
        log.warning("sink_decode %s[%d]@%d: %s", topic, partition, offset, reason)
        return REJECTIONS_TABLE, undecodable_row(
            topic, partition, offset, _timestamp_us(msg), msg.key(), msg.value(), reason
        )

    # -- flush and commit -----------------------------------------------------

    def flush(self) -> bool:
        """Insert the pending rows, then commit; False if ClickHouse is unavailable.

        On TransientError the remaining rows stay pending, the partitions are
        paused and the flush is tried again later with the same tokens. Rows
        already inserted leave the batch as they go, so a retry never repeats
        an insert that succeeded.
        """
        newest = self._newest_ingest_us()
        try:
            for table in (RECORDS_TABLE, REJECTIONS_TABLE, SEALS_TABLE, REGISTRY_TABLE, INCIDENTS_TABLE, ALERTS_TABLE):
                self._insert_table(table)
        except TransientError:
            self._back_off()
            return False
        self._commit()
        self._check_alarm()
        if newest is not None:
            SINK_LAG.observe(max(0.0, time.time() - newest / 1e6))
        self.batch = Batch()
        self._decode_failures = 0
        if self._paused:
            self._resume()
        return True

    def _insert_table(self, table: str) -> None:
        entries = self.batch.rows.get(table, [])
        for run in month_runs(entries, INGEST_TIME[table]):
            ranges = ranges_of(run)
            self.writer.insert(table, [e.row for e in run], dedup_token(table, ranges), ranges)
            if table == RECORDS_TABLE:
                observe_end_to_end(e.row for e in run)
            entries = entries[len(run):]
            self.batch.rows[table] = entries

    def _commit(self) -> None:
        positions = self.batch.commit_positions()
        if not positions:
            return
        try:
            self.consumer.commit(
                offsets=[TopicPartition(t, p, o) for t, p, o in positions], asynchronous=False
            )
        except KafkaException as exc:
            # The rows are stored; whoever reads these messages again drops them
            # by their source offsets, so a failed commit costs a replay, not data.
            where = ", ".join(f"{t}[{p}]@{o}" for t, p, o in positions)
            log.warning("offset commit failed (%s); those messages will be read again and dropped: %s", where, exc)

    def _check_alarm(self) -> None:
        """A batch that is mostly undecodable means a bad deploy (say, the sink
        and the processor disagree on the encoding), not bad luck: say so loudly
        instead of quietly filing everything under sink_decode."""
        if self.batch.messages < ALARM_MIN_BATCH:
            return
        failed = self._decode_failures
        alarmed = failed / self.batch.messages > self.settings.rejection_alarm_ratio
        SINK_DECODE_ALARM.set(1 if alarmed else 0)
        if alarmed:
            log.error(
                "decode alarm: %d of %d messages in one batch could not be decoded (limit %.0f%%); "
                "check that the sink and the processor use the same encoding and schemas",
                failed, self.batch.messages, self.settings.rejection_alarm_ratio * 100,
            )

    def _newest_ingest_us(self) -> int | None:
        return max(
            (e.row[INGEST_TIME[t]] for t, entries in self.batch.rows.items() for e in entries),
            default=None,
        )

    def _back_off(self) -> None:
        self._retry_delay = min(max(self._retry_delay * 2, 1.0), 30.0)
        self._retry_at = self.clock() + self._retry_delay
        if not self._paused:
            assignment = self.consumer.assignment()
            if assignment:
                self.consumer.pause(assignment)
            self._paused = True
        log.warning("ClickHouse unavailable; %d rows kept, partitions paused, retrying in %.0fs",
                    self.batch.row_count, self._retry_delay)

    def _resume(self) -> None:
        assignment = self.consumer.assignment()
        if assignment:
            self.consumer.resume(assignment)
        self._paused = False
        self._retry_delay = 0.0

    def _final_flush(self) -> None:
        if self.batch.started is not None and not self.flush():
            raise TransientError(
                f"stopped with {self.batch.row_count} rows not stored (ClickHouse unavailable); "
                "nothing was committed for them, so they are read again on restart"
            )

    def _drop_pending(self) -> None:
        """Forget uncommitted rows; whoever reads their partitions next reads them again."""
        if self.batch.row_count:
            log.warning("dropping %d uncommitted rows (%s); they will be read again",
                        self.batch.row_count, describe_ranges(self.batch.ranges()))
        self.batch = Batch()
        self._decode_failures = 0
        self.high_water.clear()
        self._marks_stale = True
        self._paused = False
        self._retry_delay = 0.0

    # -- rebalancing ----------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        # Another sink may have stored rows for these partitions since we last
        # looked; read the marks before the first message of the assignment.
        self._marks_stale = True

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        # Store and commit before the partitions move, so their next owner
        # starts from what we stored. If ClickHouse is down, drop the rows
        # instead: committing nothing, the next owner reads them again.
        if self.batch.started is not None and not self.flush():
            self._drop_pending()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The partitions may already have a new owner: inserting now could race
        # it past our marks, and committing is impossible. Drop and re-read.
        log.warning("lost %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        self._drop_pending()

    def _load_marks(self) -> None:
        """Read max(source_offset) per source partition from both tables (retried)."""
        db = quote_identifier(self.settings.clickhouse_database)
        delay = 0.2
        while True:
            try:
                for table, (key, partition, offset) in DEDUP_KEY_SQL.items():
                    with translate_errors(f"reading the high-water marks of {table}"):
                        result = self.client.query(
                            f"SELECT {key}, {partition}, max({offset}) FROM {db}.{table} GROUP BY {key}, {partition}"
                        )
                    self.high_water.load(table, ((str(t), int(p), int(o)) for t, p, o in result.result_rows))
                self._marks_stale = False
                return
            except TransientError as exc:
                if self._stop.is_set():
                    raise
                log.warning("cannot read high-water marks yet, retrying in %.1fs: %s", delay, exc)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


def _timestamp_us(msg: Message) -> int:
    kind, ms = msg.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE or ms < 0:
        return int(time.time() * 1e6)
    return int(ms) * 1000
