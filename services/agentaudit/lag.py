"""Consumer lag of a pipeline consumer group, measured from outside the consumer.

Lag is what the group has not committed yet: per partition, the end of the
log (the last stable offset, since the sink reads committed transactions
only) minus the group's committed offset. A partition the group never
committed, or whose committed offset retention has already deleted, counts
from its earliest offset, where `auto.offset.reset=earliest` starts it.

Why a separate admin client rather than the consumer's own positions: it is
the same for the faust processor (whose aiokafka consumer we do not drive)
and for the sink; and committed offsets are what a restart resumes from, so
a consumer that consumes but never commits (a sink stuck retrying
ClickHouse) shows as lagging. Every member of a group measures the whole
group, so an alert takes the max over instances, not the sum.

On a topic written in transactions (agent.registry) the lag of a group that
has read everything is 1, not 0: the commit marker after the last message
takes an offset, and a group commits the offset after the last message it
consumed (kafka-consumer-groups.sh shows the same).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, IsolationLevel, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec  # type: ignore[attr-defined]  # documented path, no __all__

from agentaudit.metrics import CONSUMER_LAG, CONSUMER_LAG_MEASURED
from agentaudit.settings import Settings
from agentaudit.topics import Topic

log = logging.getLogger(__name__)

Partition = tuple[str, int]  # (physical topic, partition)

INTERVAL_S = 15.0  # Prometheus' scrape interval: measuring more often is never seen
TIMEOUT_S = 10.0
LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]  # untyped in confluent-kafka
EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


def lag_by_topic(
    ends: Mapping[Partition, int], starts: Mapping[Partition, int], committed: Mapping[Partition, int | None]
) -> dict[str, int]:
    """Messages not committed, summed per topic over the partitions in `ends`.

    committed[p] is None (or absent) where the group has no offset for p.
    """
    lag: dict[str, int] = {}
    for partition, end in ends.items():
        start = starts.get(partition, 0)
        done = committed.get(partition)
        resume = start if done is None or done < start else done
        lag[partition[0]] = lag.get(partition[0], 0) + max(0, end - resume)
    return lag


@dataclass(frozen=True)
class GroupTopics:
    """A consumer group and the topics it reads, by logical name for the metric labels."""

    name: str  # logical: "processor", "sink" (the label, bounded)
    group_id: str  # physical, with the topic prefix
    topics: Mapping[str, Topic]  # physical topic name -> logical topic


def processor_group(settings: Settings) -> GroupTopics:
    # faust's consumer group id is the app id (agentaudit.process.app.make_app).
    return GroupTopics("processor", f"{settings.topic_prefix}agentaudit-processor",
                       {settings.topic(Topic.ACTIONS): Topic.ACTIONS})


def sink_group(settings: Settings, topics: Sequence[Topic]) -> GroupTopics:
    # The group id of agentaudit.sink.consumer.make_consumer.
    return GroupTopics("sink", f"{settings.topic_prefix}agentaudit-sink", {settings.topic(t): t for t in topics})


def incidents_group(settings: Settings, name: str) -> GroupTopics:
    """A service following audit.incidents: "alert" or "containment" (their group ids)."""
    return GroupTopics(name, f"{settings.topic_prefix}agentaudit-{name}",
                       {settings.topic(Topic.INCIDENTS): Topic.INCIDENTS})


Committed = Callable[[list[TopicPartition]], list[TopicPartition]]
"""The group's committed offset of each partition (negative: none)."""


def committed_reader(bootstrap: str, group: GroupTopics) -> Committed:
    """Committed offsets read by a consumer that carries the group's id but never joins or commits.

    Not AdminClient.list_consumer_group_offsets: for a group that does not
    exist yet (a service that has not committed anything) it crashes the
    process in confluent-kafka 2.16 (confluent-kafka-python#1982); a consumer's
    committed() answers "no offset" instead.
    """
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group.group_id, "enable.auto.commit": False,
                         "client.id": f"{group.group_id}-lag"})

    def committed(partitions: list[TopicPartition]) -> list[TopicPartition]:
        return list(consumer.committed(partitions, timeout=TIMEOUT_S))

    return committed


class LagProbe:
    """Reads a group's committed offsets and its topics' log bounds (an AdminClient for those)."""

    def __init__(self, admin: AdminClient, group: GroupTopics, committed: Committed) -> None:
        self.admin = admin
        self.group = group
        self.committed = committed

    def measure(self) -> dict[str, int]:
        """Lag per logical topic name; raises KafkaException when the broker does not answer."""
        partitions = self._partitions()
        ends = self._offsets(partitions, LATEST)
        starts = self._offsets(partitions, EARLIEST)
        answer = self.committed([TopicPartition(t, p) for t, p in partitions]) if partitions else []
        committed = {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else None for tp in answer}
        physical = lag_by_topic(ends, starts, committed)
        return {self.group.topics[t].value: physical.get(t, 0) for t in self.group.topics}

    def _partitions(self) -> list[Partition]:
        metadata = self.admin.list_topics(timeout=TIMEOUT_S)
        return [
            (topic, partition)
            for topic in self.group.topics if topic in metadata.topics
            for partition in metadata.topics[topic].partitions
        ]

    def _offsets(self, partitions: list[Partition], spec: OffsetSpec) -> dict[Partition, int]:
        if not partitions:
            return {}
        futures: dict[TopicPartition, Future[Any]] = self.admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in partitions},
            isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=TIMEOUT_S,
        )
        return {(tp.topic, tp.partition): int(f.result().offset) for tp, f in futures.items()}


class LagMonitor:
    """Measures a group's lag every INTERVAL_S on a daemon thread and sets CONSUMER_LAG.

    A failed measurement leaves the gauges as they were (their freshness is
    agentaudit_consumer_lag_measured_timestamp_seconds) and is logged once per
    run of failures, so a broker outage does not flood the log.
    """

    def __init__(self, probe: LagProbe, interval_s: float = INTERVAL_S) -> None:
        self.probe = probe
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name=f"lag-{probe.group.name}", daemon=True)

    def start(self) -> LagMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT_S * 2)

    def update(self) -> bool:
        """Measure once and set the gauges; False if the broker did not answer."""
        group = self.probe.group.name
        try:
            lag = self.probe.measure()
        except Exception as exc:  # a monitoring thread must outlive any broker hiccup
            if not self._failing:
                log.warning("cannot measure the consumer lag of %s (will keep trying): %s", group, exc)
            self._failing = True
            return False
        if self._failing:
            log.info("consumer lag of %s measured again", group)
        self._failing = False
        for topic, messages in lag.items():
            CONSUMER_LAG.labels(group=group, topic=topic).set(messages)
        CONSUMER_LAG_MEASURED.labels(group=group).set(time.time())
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.update()
            self._stop.wait(self.interval_s)


def start_lag_monitor(settings: Settings, bootstrap: str, group: GroupTopics) -> LagMonitor | None:
    """Start measuring `group`'s lag, unless /metrics is off (nobody would read it)."""
    if settings.metrics_port < 0:
        return None
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": f"{group.group_id}-lag"})
    return LagMonitor(LagProbe(admin, group, committed_reader(bootstrap, group))).start()
