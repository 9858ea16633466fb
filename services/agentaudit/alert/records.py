"""AlertDelivery records: every attempt outcome, produced to audit.alerts keyed by incident_id.

A final outcome (delivered or failed) settles its entry in the commit
watermark only once the broker has its record, so a committed offset always
has its delivery evidence stored; a record the broker does not take is
produced again rather than dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, Producer

from agentaudit.alert.ocsf import dedup_key
from agentaudit.alert.routes import Route
from agentaudit.alert.transport import Attempt, Status
from agentaudit.alert.watermark import Entry
from agentaudit.codec import Codec
from agentaudit.metrics import ALERT_RECORD_ERRORS
from agentaudit.settings import Settings

log = logging.getLogger(__name__)

SCHEMA = "AlertDelivery"


def make_producer(settings: Settings, bootstrap: str) -> Producer:
    return Producer({
        "bootstrap.servers": bootstrap,
        "client.id": f"{settings.topic_prefix}agentaudit-alert",
        # Delivery evidence: no duplicates from the producer's own retries, and
        # acknowledged by every in-sync replica before an offset is committed.
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    })


def delivery_record(entry: Entry, route: Route, attempt_no: int, attempt: Attempt,
                    retry_in_s: float | None, at_us: int) -> dict[str, Any]:
    """The AlertDelivery datum for one attempt outcome."""
    incident = entry.incident
    return {
        "incident_id": str(incident["incident_id"]),
        "version": int(incident["version"]),
        "change": str(incident["change"]),
        "tenant_id": str(incident["tenant_id"]),
        "severity": str(incident["severity"]),
        "route": route.name,
        "kind": str(route.kind),
        "dedup_key": dedup_key(incident),
        "attempt": attempt_no,
        "status": str(attempt.status),
        "http_status": attempt.http_status,
        "error": attempt.error,
        "retry_in_ms": None if retry_in_s is None else int(retry_in_s * 1000),
        "at": at_us,
        "latency_ms": attempt.latency_ms,
        "source": {"topic": entry.topic, "partition": entry.partition, "offset": entry.offset},
    }


class DeliveryLog:
    """Writes AlertDelivery records; calls on_settled(entry, route name) once a
    final outcome's record is on the broker.

    record() is called from route workers (the producer is thread-safe);
    on_settled runs in whichever thread polls the producer: the consumer loop.
    """

    def __init__(self, producer: Any, codec: Codec, topic: str,
                 on_settled: Callable[[Entry, str], object], wall_clock: Callable[[], float] = time.time) -> None:
        self.producer = producer
        self.codec = codec
        self.topic = topic
        self.on_settled = on_settled
        self.wall_clock = wall_clock

    def record(self, entry: Entry, route: Route, attempt_no: int, attempt: Attempt, retry_in_s: float | None) -> None:
        datum = delivery_record(entry, route, attempt_no, attempt, retry_in_s, int(self.wall_clock() * 1e6))
        final = entry if attempt.status is not Status.RETRYING else None
        self._produce(datum["incident_id"].encode(), self.codec.encode(SCHEMA, datum), final, route.name)

    def _produce(self, key: bytes, value: bytes, final: Entry | None, route: str) -> None:
        def on_delivery(error: KafkaError | None, _msg: Any) -> None:
            if error is None:
                if final is not None:
                    self.on_settled(final, route)
                return
            ALERT_RECORD_ERRORS.inc()
            log.warning("AlertDelivery record for route %s not stored in %s (%s); producing it again",
                        route, self.topic, error)
            self._produce(key, value, final, route)

        while True:
            try:
                self.producer.produce(self.topic, key=key, value=value, on_delivery=on_delivery)
                return
            except BufferError:  # the local queue is full: let delivery reports drain it
                self.producer.poll(0.1)
