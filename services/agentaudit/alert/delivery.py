"""A worker thread per route: delivers that route's alerts in order, retrying until settled.

One route per thread means a receiver that is down holds up only its own
queue; healthy routes keep delivering. Within a route, entries go one at a
time in the order they were read, so a receiver never sees an incident
resolved before it was opened.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable

from agentaudit.alert.backoff import Backoff
from agentaudit.alert.payloads import Request, build_request
from agentaudit.alert.routes import Route
from agentaudit.alert.transport import Attempt, Status, post
from agentaudit.alert.watermark import Entry
from agentaudit.metrics import ALERT_ATTEMPTS, ALERT_DELIVERED, ALERT_DELIVERY_LATENCY, ALERT_FAILED

log = logging.getLogger(__name__)

# How often an idle worker checks for a stop request.
IDLE_POLL_S = 0.2

Recorder = Callable[[Entry, Route, int, Attempt, float | None], None]
Sender = Callable[[Route, Request], Attempt]


class RouteWorker:
    """Delivers one route's queue: each entry until delivered or failed permanently.

    Transient failures are retried with `backoff`, without limit: an endpoint
    that is down holds its entries (and the commit watermark) until it
    recovers, which agentaudit_alert_oldest_undelivered_seconds shows. Every
    attempt outcome goes to `record`. Stops between attempts when `stop` is
    set, leaving the current entry and the queue unsettled, so their offsets
    stay uncommitted; entries whose partition was revoked are dropped.
    """

    def __init__(self, route: Route, backoff: Backoff, record: Recorder, stop: threading.Event, *,
                 send: Sender = post, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.route = route
        self.backoff = backoff
        self.record = record
        self.stop = stop
        self.send = send
        self.rng = rng or random.Random()
        self.clock = clock
        self.queue: queue.Queue[Entry] = queue.Queue()
        self.thread = threading.Thread(target=self.run, name=f"alert-{route.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def submit(self, entry: Entry) -> None:
        self.queue.put(entry)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                entry = self.queue.get(timeout=IDLE_POLL_S)
            except queue.Empty:
                continue
            self.deliver(entry)

    def deliver(self, entry: Entry) -> None:
        route, kind = self.route, str(self.route.kind)
        attempt_no = 0
        while not self.stop.is_set() and not entry.cancelled:
            attempt_no += 1
            attempt = self.send(route, build_request(route, entry.incident, int(time.time() * 1e6)))
            ALERT_ATTEMPTS.labels(kind=kind, outcome=str(attempt.status)).inc()
            if attempt.status is Status.DELIVERED:
                ALERT_DELIVERED.labels(kind=kind).inc()
                ALERT_DELIVERY_LATENCY.labels(kind=kind).observe(max(0.0, self.clock() - entry.read_at))
                log.info("delivered %s %s to %s (attempt %d)", entry.incident["incident_id"],
                         entry.incident["change"], route.name, attempt_no)
                self.record(entry, route, attempt_no, attempt, None)
                return
            if attempt.status is Status.FAILED:
                ALERT_FAILED.labels(kind=kind).inc()
                log.error("alert for %s failed permanently on route %s (%s): %s", entry.where, route.name,
                          kind, attempt.error)
                self.record(entry, route, attempt_no, attempt, None)
                return
            delay = self.backoff.delay(attempt_no, self.rng, attempt.retry_after_s)
            log.warning("alert for %s not delivered to route %s (attempt %d: %s); retrying in %.1fs",
                        entry.where, route.name, attempt_no, attempt.error, delay)
            self.record(entry, route, attempt_no, attempt, delay)
            if self.stop.wait(delay):
                return
