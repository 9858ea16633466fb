"""Consumer lag: the arithmetic, the broker questions it is made of, and the gauges it sets."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
from prometheus_client import REGISTRY

from agentaudit.lag import EARLIEST, LATEST, LagMonitor, LagProbe, lag_by_topic, processor_group, sink_group
from agentaudit.settings import Settings
from agentaudit.sink.cli import SUBSCRIBED
from agentaudit.sink.consumer import Sink
from agentaudit.topics import Topic

SETTINGS = Settings(topic_prefix="t.")


def test_lag_is_end_minus_committed_summed_per_topic() -> None:
    ends = {("a", 0): 100, ("a", 1): 50, ("b", 0): 7}
    committed = {("a", 0): 90, ("a", 1): 50, ("b", 0): 0}
    assert lag_by_topic(ends, {}, committed) == {"a": 10, "b": 7}


def test_without_a_commit_the_group_starts_at_the_earliest_offset() -> None:
    # auto.offset.reset=earliest: a never-committed partition is read from its start, which
    # retention may have moved; a commit older than the start resumes there too.
    ends = {("a", 0): 100, ("a", 1): 100, ("a", 2): 100}
    starts = {("a", 0): 40, ("a", 1): 40, ("a", 2): 40}
    committed = {("a", 1): None, ("a", 2): 10}
    assert lag_by_topic(ends, starts, committed) == {"a": 60 * 3}


def test_a_commit_ahead_of_the_stable_end_is_no_negative_lag() -> None:
    # The last stable offset stays behind an open transaction that the commit already passed.
    assert lag_by_topic({("a", 0): 5}, {}, {("a", 0): 9}) == {"a": 0}


def done(value: Any) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_result(value)
    return future


@dataclass
class FakeAdmin:
    """Answers like AdminClient for topics with `ends` and `starts`, and one group's commits."""

    partitions: dict[str, int]
    ends: dict[tuple[str, int], int]
    starts: dict[tuple[str, int], int] = field(default_factory=dict)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    isolation: list[Any] = field(default_factory=list)
    fail: bool = False

    def list_topics(self, timeout: float) -> Any:
        if self.fail:
            raise KafkaException("broker down")
        return SimpleNamespace(topics={t: SimpleNamespace(partitions={p: None for p in range(n)})
                                       for t, n in self.partitions.items()})

    def list_offsets(self, specs: dict[TopicPartition, Any], isolation_level: Any, request_timeout: float) -> Any:
        self.isolation.append(isolation_level)
        source = {LATEST: self.ends, EARLIEST: self.starts}
        return {tp: done(SimpleNamespace(offset=source[spec].get((tp.topic, tp.partition), 0)))
                for tp, spec in specs.items()}

    def committed_of(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """As Consumer.committed: -1001 (OFFSET_INVALID) where the group has no commit."""
        return [TopicPartition(tp.topic, tp.partition, self.committed.get((tp.topic, tp.partition), -1001))
                for tp in partitions]


def test_the_probe_asks_for_the_groups_topics_and_labels_them_logically() -> None:
    admin = FakeAdmin(
        partitions={"t.audit.records": 2, "t.audit.seals": 1, "t.agent.actions": 2},
        ends={("t.audit.records", 0): 10, ("t.audit.records", 1): 5, ("t.audit.seals", 0): 3,
              ("t.agent.actions", 0): 1000},
        committed={("t.audit.records", 0): 4, ("t.audit.seals", 0): 3},
    )
    group = sink_group(SETTINGS, [Topic.RECORDS, Topic.SEALS, Topic.REJECTED])
    lag = LagProbe(admin, group, admin.committed_of).measure()  # type: ignore[arg-type]
    # audit.rejected does not exist (yet): no partitions, no lag, still a series
    assert lag == {"audit.records": 6 + 5, "audit.seals": 0, "audit.rejected": 0}
    assert set(admin.isolation) == {IsolationLevel.READ_COMMITTED}


def test_group_ids_are_the_ones_the_services_consume_with() -> None:
    assert processor_group(SETTINGS).group_id == "t.agentaudit-processor"  # faust's app id
    assert processor_group(SETTINGS).topics == {"t.agent.actions": Topic.ACTIONS}
    sink = sink_group(SETTINGS, SUBSCRIBED)
    assert sink.group_id == "t.agentaudit-sink"


def test_the_sink_reports_the_lag_of_every_topic_it_subscribes_to() -> None:
    """SUBSCRIBED (sink/cli.py) must follow Sink.run's subscription."""
    subscribed: list[str] = []

    class Consumer:
        def subscribe(self, topics: list[str], **_: Any) -> None:
            subscribed.extend(topics)

        def close(self) -> None:
            pass

    stop = threading.Event()
    stop.set()
    Sink(SETTINGS, Consumer(), client=None, codec=None).run(stop)  # type: ignore[arg-type]
    assert sorted(subscribed) == sorted(SETTINGS.topic(t) for t in SUBSCRIBED)


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


def test_the_monitor_sets_the_gauges_and_survives_a_broker_outage(caplog: pytest.LogCaptureFixture) -> None:
    admin = FakeAdmin(partitions={"t.agent.actions": 1}, ends={("t.agent.actions", 0): 42},
                      committed={("t.agent.actions", 0): 40})
    monitor = LagMonitor(LagProbe(admin, processor_group(SETTINGS), admin.committed_of))  # type: ignore[arg-type]
    assert monitor.update()
    assert sample("agentaudit_consumer_lag_messages", group="processor", topic="agent.actions") == 2
    measured = sample("agentaudit_consumer_lag_measured_timestamp_seconds", group="processor")
    assert measured is not None and measured > 0

    admin.fail = True
    assert not monitor.update() and not monitor.update()
    assert [r.levelname for r in caplog.records].count("WARNING") == 1, "one warning per outage, not per attempt"
    # the last good value stays; its timestamp shows how stale it is
    assert sample("agentaudit_consumer_lag_messages", group="processor", topic="agent.actions") == 2
    assert sample("agentaudit_consumer_lag_measured_timestamp_seconds", group="processor") == measured

    admin.fail = False
    admin.committed[("t.agent.actions", 0)] = 42
    assert monitor.update()
    assert sample("agentaudit_consumer_lag_messages", group="processor", topic="agent.actions") == 0


def test_the_monitor_thread_measures_until_stopped() -> None:
    admin = FakeAdmin(partitions={"t.agent.actions": 1}, ends={("t.agent.actions", 0): 9})
    probe = LagProbe(admin, processor_group(SETTINGS), admin.committed_of)  # type: ignore[arg-type]
    monitor = LagMonitor(probe, interval_s=0.01).start()
    try:
        deadline = time.monotonic() + 10
        while len(admin.isolation) < 6 and time.monotonic() < deadline:  # two calls per measurement
            time.sleep(0.01)
    finally:
        monitor.stop()
    assert len(admin.isolation) >= 6, "measured again every interval"
    assert not monitor._thread.is_alive()
    assert sample("agentaudit_consumer_lag_messages", group="processor", topic="agent.actions") == 9
