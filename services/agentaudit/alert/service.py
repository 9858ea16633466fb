"""The alerter's Kafka loop: read incident entries, hand them to route workers,
commit up to the watermark. See Alerter for the delivery contract."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition

from agentaudit.alert.backoff import Backoff
from agentaudit.alert.delivery import RouteWorker, Sender
from agentaudit.alert.records import DeliveryLog, make_producer
from agentaudit.alert.routes import Route, routes_for
from agentaudit.alert.transport import post
from agentaudit.alert.watermark import Entry, Watermark
from agentaudit.codec import Codec, make_codec
from agentaudit.errors import ConfigError, PermanentError
from agentaudit.metrics import ALERT_OLDEST_UNDELIVERED, ALERT_PENDING, ALERT_UNDECODABLE
from agentaudit.settings import Settings
from agentaudit.topics import Topic

log = logging.getLogger(__name__)

CONSUME_CHUNK = 500
POLL_S = 0.2  # longest consume() wait, so stop requests and commits are timely


@dataclass(frozen=True)
class AlertOptions:
    """How the alerter delivers; validated at construction."""

    routes: tuple[Route, ...]
    backoff: Backoff = field(default_factory=Backoff)
    max_pending: int = 1000  # entries in flight before consumption pauses (backpressure)
    drain_s: float = 5.0  # on stop, how long workers may keep delivering what was read
    commit_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not self.routes:
            raise ConfigError("the alerter needs at least one route")
        if self.max_pending < 1 or self.drain_s < 0 or self.commit_interval_s <= 0:
            raise ConfigError("max_pending must be 1+, drain_s 0+ and commit_interval_s positive")


def make_consumer(settings: Settings, bootstrap: str) -> Consumer:
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"{settings.topic_prefix}agentaudit-alert",
        "client.id": f"{settings.topic_prefix}agentaudit-alert",
        # Committed by hand, up to the watermark only.
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        # The processor writes incidents in transactions; aborted ones never page.
        "isolation.level": "read_committed",
        # An alerter started after incidents were raised must still send them.
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
    })


class Alerter:
    """Sends audit.incidents entries to every matching route, at least once.

    Commit contract: an entry's offset is committed only when every route it
    matched has settled it (delivered, or failed permanently) and the
    AlertDelivery records of those outcomes are on the broker; per partition
    the commit stops at the lowest unsettled entry (Watermark). A crash or a
    stop while a receiver is down therefore re-reads every entry not yet
    settled, and receivers drop what they already had by its dedup key.

    'hits' entries and entries no route matches are never sent; they settle at
    once. An undecodable message is logged with topic[partition]@offset,
    counted and skipped (there is nothing to tell on-call it is about).

    Blocking: run() polls Kafka with short timeouts; deliveries happen in one
    RouteWorker thread per route. When max_pending entries are in flight (a
    receiver is down) the partitions are paused, so memory stays bounded. On
    stop it stops reading, lets workers deliver for up to drain_s, stops them,
    flushes the producer, commits up to the watermark and closes the consumer.
    """

    def __init__(self, settings: Settings, options: AlertOptions, consumer: Any, producer: Any, codec: Codec, *,
                 send: Sender = post, clock: Callable[[], float] = time.monotonic) -> None:
        self.options = options
        self.consumer = consumer
        self.producer = producer
        self.codec = codec
        self.clock = clock
        self.incidents_topic = settings.topic(Topic.INCIDENTS)
        self.watermark = Watermark()
        self.log = DeliveryLog(producer, codec, settings.topic(Topic.ALERTS), self.watermark.settle)
        self.workers_stop = threading.Event()
        self.workers = {
            r.name: RouteWorker(r, options.backoff, self.log.record, self.workers_stop, send=send, clock=clock)
            for r in options.routes
        }
        self._committed: dict[tuple[str, int], int] = {}
        self._next_commit = 0.0
        self._paused = False

    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe([self.incidents_topic], on_assign=self._on_assign,
                                on_revoke=self._on_revoke, on_lost=self._on_lost)
        for worker in self.workers.values():
            worker.start()
        try:
            while not stop.is_set():
                self.step()
            self._shutdown()
        finally:
            self.workers_stop.set()
            self.consumer.close()

    def step(self) -> None:
        """One consume(), delivery reports, backpressure, gauges and, when due, a commit."""
        # Never read more than max_pending entries ahead of the receivers.
        room = max(1, min(CONSUME_CHUNK, self.options.max_pending - self.watermark.pending_entries()))
        for msg in self.consumer.consume(num_messages=room, timeout=POLL_S):
            error = msg.error()
            if error is None:
                self.handle(msg.topic(), msg.partition(), msg.offset(), msg.value() or b"")
            elif error.fatal():
                raise KafkaException(error)
            else:
                log.warning("consumer error on %s[%s]: %s", msg.topic(), msg.partition(), error)
        self.producer.poll(0)
        self._apply_backpressure()
        self._update_gauges()
        if self.clock() >= self._next_commit:
            self.commit()
            self._next_commit = self.clock() + self.options.commit_interval_s

    def handle(self, topic: str, partition: int, offset: int, value: bytes) -> Entry:
        """Hand one incident entry to the workers of every route it matches."""
        entry = Entry(topic, partition, offset, {}, self.clock())
        try:
            entry.incident = self.codec.decode("Incident", value)
        except PermanentError as exc:
            ALERT_UNDECODABLE.inc()
            log.warning("undecodable incident %s skipped: %s", entry.where, exc)
            self.watermark.read(entry)
            return entry
        routes = routes_for(self.options.routes, entry.incident)
        entry.remaining = {r.name for r in routes}
        self.watermark.read(entry)
        for route in routes:
            self.workers[route.name].submit(entry)
        return entry

    def commit(self, only: set[tuple[str, int]] | None = None) -> None:
        """Commit each partition's watermark where it moved since the last commit."""
        moved = [(tp, o) for tp, o in self.watermark.positions().items()
                 if self._committed.get(tp) != o and (only is None or tp in only)]
        if not moved:
            return
        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in moved], asynchronous=False)
        except KafkaException as exc:
            # Nothing is lost: the entries after the last good commit are read
            # again and sent again, and receivers drop them by dedup key.
            log.warning("offset commit failed (%s): %s",
                        ", ".join(f"{t}[{p}]@{o}" for (t, p), o in moved), exc)
            return
        self._committed.update(moved)

    def _apply_backpressure(self) -> None:
        pending = self.watermark.pending_entries()
        if not self._paused and pending >= self.options.max_pending:
            if assignment := self.consumer.assignment():
                self.consumer.pause(assignment)
            self._paused = True  # also pauses partitions assigned later (_on_assign)
            log.warning("%d incident entries in flight: reading paused until receivers catch up", pending)
        elif self._paused and pending < self.options.max_pending // 2:
            if assignment := self.consumer.assignment():
                self.consumer.resume(assignment)
            self._paused = False
            log.info("reading resumed (%d entries in flight)", pending)

    def _update_gauges(self) -> None:
        ALERT_PENDING.set(self.watermark.pending_deliveries())
        oldest = self.watermark.oldest_read_at()
        ALERT_OLDEST_UNDELIVERED.set(0 if oldest is None else max(0.0, self.clock() - oldest))

    def _shutdown(self) -> None:
        deadline = self.clock() + self.options.drain_s
        while self.watermark.pending_entries() and self.clock() < deadline:
            self.producer.poll(0.05)
        self.workers_stop.set()
        for worker in self.workers.values():
            # A worker finishes at most one HTTP attempt (bounded by its timeout);
            # one that hangs longer is a daemon thread and does not hold the exit.
            worker.thread.join(worker.route.timeout_s + 1)
        remaining = self.producer.flush(30)
        if remaining:
            log.warning("%d AlertDelivery records not acknowledged at stop; their entries stay uncommitted", remaining)
        self.commit()
        undelivered = self.watermark.pending_entries()
        if undelivered:
            log.warning("stopped with %d incident entries not delivered to every route; "
                        "they are read again on restart (committed: %s)", undelivered,
                        ", ".join(f"{t}[{p}]@{o}" for (t, p), o in sorted(self.watermark.positions().items())))

    # -- rebalancing ----------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        if self._paused:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        revoked = {(p.topic, p.partition) for p in partitions}
        self.producer.poll(0)
        self.commit(only=revoked)  # what is settled, so the next owner does not send it again
        self._forget(revoked)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning("lost %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        self._forget({(p.topic, p.partition) for p in partitions})

    def _forget(self, partitions: set[tuple[str, int]]) -> None:
        dropped = self.watermark.forget(partitions)
        for tp in partitions:
            self._committed.pop(tp, None)
        if dropped:
            log.info("%d undelivered entries left to the partitions' next owner", dropped)


def run_alerter(settings: Settings, bootstrap: str, options: AlertOptions, stop: threading.Event) -> None:
    """Run the alerter until `stop` is set; installs no signal handlers (usable from a thread)."""
    codec = make_codec(settings)
    Alerter(settings, options, make_consumer(settings, bootstrap), make_producer(settings, bootstrap), codec).run(stop)
