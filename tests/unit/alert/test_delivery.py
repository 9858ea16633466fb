"""Route workers against a real local HTTP server that fails, then recovers.

Short backoff settings keep these fast; the schedule itself is tested in
test_backoff.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agentaudit.alert.backoff import Backoff
from agentaudit.alert.delivery import RouteWorker
from agentaudit.alert.records import DeliveryLog
from agentaudit.alert.routes import Route, RouteKind
from agentaudit.alert.watermark import Entry, Watermark
from agentaudit.codec import SingleObjectCodec
from agentaudit.metrics import ALERT_FAILED
from tests.unit.alert.support import FakeProducer, Receiver, free_port, incident, wait_for

FAST = Backoff(initial_s=0.05, max_s=30.0, jitter=0.5)
CODEC = SingleObjectCodec()


class Harness:
    """One route worker with its delivery log and watermark, producing to a FakeProducer."""

    def __init__(self, route: Route, backoff: Backoff = FAST) -> None:
        self.route = route
        self.producer = FakeProducer()
        self.watermark = Watermark()
        self.stop = threading.Event()
        self.log = DeliveryLog(self.producer, CODEC, "audit.alerts", self.watermark.settle)
        self.worker = RouteWorker(route, backoff, self.log.record, self.stop)
        self.offset = 0
        self.worker.start()

    def send(self, entry_data: dict[str, Any]) -> Entry:
        entry = Entry("audit.incidents", 0, self.offset, entry_data, 0.0, {self.route.name})
        self.offset += 1
        self.watermark.read(entry)
        self.worker.submit(entry)
        return entry

    def records(self) -> list[dict[str, Any]]:
        self.producer.poll(0)  # delivery reports settle entries, as the consumer loop does
        return [CODEC.decode("AlertDelivery", value) for _, _, value in self.producer.produced]

    def settled(self) -> bool:
        self.producer.poll(0)
        return self.watermark.pending_entries() == 0


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for h in made:
        h.stop.set()
        h.worker.thread.join(5)


def webhook(url: str, **extra: Any) -> Route:
    return Route(name="hook", kind=RouteKind.WEBHOOK, url=url, timeout_s=2.0, **extra)


def test_503_then_recovery_delivers_once_after_growing_delays(harnesses: list[Harness]) -> None:
    receiver = Receiver(failures=4, fail_status=503)
    try:
        # Jitter of a quarter keeps each delay's range clear of the next one's,
        # so the growth shows through the noise of real HTTP round trips.
        h = Harness(webhook(receiver.url), Backoff(initial_s=0.1, max_s=2.0, jitter=0.25))
        harnesses.append(h)
        entry = h.send(incident(incident_id="inc-503"))
        wait_for("delivery", h.settled)
    finally:
        receiver.close()
    accepted = receiver.accepted()
    assert [r.headers["Idempotency-Key"] for r in accepted] == ["inc-503:opened"]
    assert accepted[0].body["finding_info"]["uid"] == "inc-503"
    times = [r.at for r in receiver.requests]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) == 4 and gaps == sorted(gaps) and gaps[-1] > 2 * gaps[0], gaps
    records = h.records()
    assert [(r["attempt"], r["status"], r["http_status"]) for r in records] == [
        (1, "retrying", 503), (2, "retrying", 503), (3, "retrying", 503), (4, "retrying", 503), (5, "delivered", 200)]
    waits = [r["retry_in_ms"] for r in records[:-1]]
    assert waits == sorted(waits) and records[-1]["retry_in_ms"] is None and records[-1]["error"] is None
    assert all(r["dedup_key"] == "inc-503:opened" and r["route"] == "hook" and r["kind"] == "webhook"
               for r in records)
    assert records[0]["source"] == {"topic": "audit.incidents", "partition": 0, "offset": entry.offset}


def test_a_receiver_that_is_not_listening_yet_gets_the_alert_once_it_is(harnesses: list[Harness]) -> None:
    port = free_port()
    h = Harness(webhook(f"http://127.0.0.1:{port}/hook"))
    harnesses.append(h)
    h.send(incident(incident_id="inc-down"))
    wait_for("three refused attempts", lambda: len(h.records()) >= 3)
    assert h.watermark.pending_entries() == 1
    receiver = Receiver(port=port)
    try:
        wait_for("delivery", h.settled)
    finally:
        receiver.close()
    assert [r.headers["Idempotency-Key"] for r in receiver.accepted()] == ["inc-down:opened"]
    records = h.records()
    assert records[-1]["status"] == "delivered"
    refused = records[:-1]
    assert all(r["status"] == "retrying" and r["http_status"] is None and "Connection" in r["error"]
               for r in refused)
    waits = [r["retry_in_ms"] for r in refused]
    assert waits == sorted(waits)


def test_entries_reach_a_route_in_order_each_once(harnesses: list[Harness]) -> None:
    receiver = Receiver(failures=2)
    try:
        h = Harness(webhook(receiver.url))
        harnesses.append(h)
        for change in ("opened", "acknowledged", "resolved"):
            h.send(incident(change, incident_id="inc-seq"))
        wait_for("three deliveries", h.settled)
    finally:
        receiver.close()
    assert [r.headers["Idempotency-Key"] for r in receiver.accepted()] == [
        "inc-seq:opened", "inc-seq:acknowledged", "inc-seq:resolved"]


@pytest.mark.parametrize("status", [400, 404, 410, 302])
def test_other_4xx_and_redirects_fail_permanently(harnesses: list[Harness], status: int,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    receiver = Receiver(failures=10, fail_status=status)
    before = ALERT_FAILED.labels(kind="webhook")._value.get()
    try:
        h = Harness(webhook(receiver.url))
        harnesses.append(h)
        with caplog.at_level(logging.ERROR, logger="agentaudit.alert"):
            h.send(incident())
            wait_for("a settled failure", h.settled)
    finally:
        receiver.close()
    assert len(receiver.requests) == 1  # never sent again, never followed elsewhere
    (record,) = h.records()
    assert (record["status"], record["http_status"], record["attempt"]) == ("failed", status, 1)
    assert record["error"].startswith(f"HTTP {status}")
    assert ALERT_FAILED.labels(kind="webhook")._value.get() == before + 1
    assert "audit.incidents[0]@0" in caplog.text


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_408_429_and_5xx_are_retried(harnesses: list[Harness], status: int) -> None:
    receiver = Receiver(failures=1, fail_status=status)
    try:
        h = Harness(webhook(receiver.url))
        harnesses.append(h)
        h.send(incident())
        wait_for("delivery", h.settled)
    finally:
        receiver.close()
    assert [r["status"] for r in h.records()] == ["retrying", "delivered"]


def test_secrets_are_never_logged_or_recorded(harnesses: list[Harness], caplog: pytest.LogCaptureFixture) -> None:
    secret, key = "Bearer s3cr3t-token", "pd-r0uting-key"
    receiver = Receiver(failures=2, fail_status=503, echo_on_failure=True)
    try:
        hook = webhook(receiver.url, headers={"Authorization": secret}, secrets=(secret,))
        pd = Route(name="pd", kind=RouteKind.PAGERDUTY, url=receiver.url, routing_key=key, secrets=(key,))
        with caplog.at_level(logging.DEBUG, logger="agentaudit"):
            for route in (hook, pd):
                h = Harness(route)
                harnesses.append(h)
                h.send(incident())
                wait_for("delivery", h.settled)
    finally:
        receiver.close()
    assert receiver.requests[0].headers["Authorization"] == secret  # the receiver did get it
    assert receiver.accepted()[-1].body["routing_key"] == key
    records = [r for h in harnesses for r in h.records()]
    assert any("***" in (r["error"] or "") for r in records)  # the echoed header was scrubbed
    for text in [caplog.text, *map(repr, records), *map(repr, harnesses)]:
        assert secret not in text and "s3cr3t" not in text and key not in text


def test_a_stop_during_an_outage_leaves_the_entry_unsettled(harnesses: list[Harness]) -> None:
    h = Harness(webhook(f"http://127.0.0.1:{free_port()}/hook"), Backoff(initial_s=5.0, max_s=5.0))
    harnesses.append(h)
    h.send(incident())
    wait_for("a failed attempt", lambda: len(h.records()) == 1)
    h.stop.set()
    h.worker.thread.join(2)
    assert not h.worker.thread.is_alive()  # the backoff wait ends at the stop request
    assert h.watermark.pending_entries() == 1
    assert h.watermark.positions() == {("audit.incidents", 0): 0}
