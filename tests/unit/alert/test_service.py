"""The alerter's consumer loop with in-memory Kafka and real HTTP receivers:
what is sent, what is committed, and what a dead route holds up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agentaudit.alert.backoff import Backoff
from agentaudit.alert.routes import Route, RouteKind
from agentaudit.alert.service import Alerter, AlertOptions
from agentaudit.codec import SingleObjectCodec
from agentaudit.errors import ConfigError
from agentaudit.settings import Settings
from tests.unit.alert.support import (
    FakeConsumer, FakeMessage, FakeProducer, Receiver, free_port, incident, wait_for,
)

CODEC = SingleObjectCodec()
TOPIC = "audit.incidents"
FAST = Backoff(initial_s=0.05, max_s=0.2)


def messages(*entries: dict[str, Any], partition: int = 0) -> list[FakeMessage]:
    return [FakeMessage(TOPIC, partition, i, CODEC.encode("Incident", e)) for i, e in enumerate(entries)]


def hook(name: str, url: str, **extra: Any) -> Route:
    return Route(name=name, kind=RouteKind.WEBHOOK, url=url, timeout_s=2.0, **extra)


class Running:
    """An Alerter running in a thread until stopped."""

    def __init__(self, routes: tuple[Route, ...], msgs: list[FakeMessage], **options: Any) -> None:
        self.consumer = FakeConsumer(msgs)
        self.producer = FakeProducer()
        opts = AlertOptions(routes, FAST, commit_interval_s=0.05, **{"drain_s": 0.2, **options})
        self.alerter = Alerter(Settings(), opts, self.consumer, self.producer, CODEC)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.alerter.run, args=(self.stop,))
        self.thread.start()

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()

    def position(self, partition: int = 0) -> int | None:
        return self.consumer.committed_position(TOPIC, partition)

    def records(self) -> list[dict[str, Any]]:
        return [CODEC.decode("AlertDelivery", v) for t, _, v in self.producer.produced if t == "audit.alerts"]


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def test_hits_never_page_and_everything_is_committed_once_delivered(receivers: list[Receiver]) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    entries = [incident("opened", incident_id="a"), incident("hits", incident_id="a", version=2),
               incident("hits", incident_id="a", version=3), incident("acknowledged", incident_id="a", version=4),
               incident("resolved", incident_id="a", version=5), incident("opened", incident_id="b", severity="info")]
    run = Running((hook("soc", receiver.url, min_severity="low"),), messages(*entries))
    try:
        wait_for("every offset committed", lambda: run.position() == 6)
    finally:
        run.halt()
    assert [r.headers["Idempotency-Key"] for r in receiver.accepted()] == ["a:opened", "a:acknowledged", "a:resolved"]
    assert [(r["change"], r["status"]) for r in run.records()] == [
        ("opened", "delivered"), ("acknowledged", "delivered"), ("resolved", "delivered")]
    assert all(key == b"a" for _, key, _ in run.producer.produced)  # keyed by incident_id
    assert run.consumer.closed


def test_a_dead_route_holds_the_commit_but_not_the_healthy_route(receivers: list[Receiver]) -> None:
    healthy = Receiver()
    receivers.append(healthy)
    dead_port = free_port()
    routes = (hook("dead", f"http://127.0.0.1:{dead_port}/x", min_severity="critical"), hook("ok", healthy.url))
    entries = [incident(severity="high", incident_id="h1"), incident(severity="critical", incident_id="c1"),
               incident(severity="high", incident_id="h2")]
    run = Running(routes, messages(*entries))
    try:
        wait_for("the healthy route has all three", lambda: len(healthy.accepted()) == 3)
        wait_for("only the dead route's delivery pending", lambda: run.alerter.watermark.pending_deliveries() == 1)
        wait_for("a commit up to the stuck entry", lambda: run.position() == 1)
    finally:
        run.halt()
    # Stopped while the dead route still owes c1: nothing at or after it is committed.
    assert run.position() == 1
    statuses = {(r["route"], r["incident_id"], r["status"]) for r in run.records()}
    assert ("dead", "c1", "retrying") in statuses and ("dead", "c1", "delivered") not in statuses

    # Restarted from the commit with the receiver back: c1 reaches it, h2 comes
    # again to the healthy route with the same dedup key (receivers drop it).
    dead = Receiver(port=dead_port)
    receivers.append(dead)
    again = Running(routes, messages(*entries)[1:])  # offsets 1 and 2: from the commit on
    try:
        wait_for("everything committed", lambda: again.position() == 3)
    finally:
        again.halt()
    assert [r.headers["Idempotency-Key"] for r in dead.accepted()] == ["c1:opened"]
    keys = [r.headers["Idempotency-Key"] for r in healthy.accepted()]
    assert sorted(set(keys)) == ["c1:opened", "h1:opened", "h2:opened"]


def test_undecodable_messages_are_skipped_and_committed(caplog: pytest.LogCaptureFixture,
                                                        receivers: list[Receiver]) -> None:
    receiver = Receiver()
    receivers.append(receiver)
    msgs = [FakeMessage(TOPIC, 0, 0, b"garbage"), FakeMessage(TOPIC, 0, 1, CODEC.encode("Incident", incident(incident_id="ok")))]
    run = Running((hook("soc", receiver.url),), msgs)
    try:
        wait_for("both committed", lambda: run.position() == 2)
    finally:
        run.halt()
    assert "undecodable incident audit.incidents[0]@0" in caplog.text
    assert [r.headers["Idempotency-Key"] for r in receiver.accepted()] == ["ok:opened"]


def test_reading_pauses_while_too_many_entries_are_in_flight() -> None:
    down = f"http://127.0.0.1:{free_port()}/x"
    entries = [incident(incident_id=f"i{n}") for n in range(6)]
    run = Running((hook("down", down),), messages(*entries), max_pending=4)
    try:
        wait_for("a pause", lambda: run.consumer.paused)
        assert run.alerter.watermark.pending_entries() >= 4
        assert run.consumer.messages  # the rest was not read
    finally:
        run.halt()
    assert run.position() == 0


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError):
        AlertOptions(())
    with pytest.raises(ConfigError):
        AlertOptions((hook("a", "http://x"),), max_pending=0)
