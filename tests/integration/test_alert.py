"""The alerter against a real Kafka broker and a receiver that is down, then
failing, then back: nothing is lost across a SIGKILL and a SIGTERM, nothing is
committed past an undelivered entry, and every attempt is on audit.alerts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer, Producer, TopicPartition

from agentaudit.codec import SingleObjectCodec
from agentaudit.settings import Settings
from agentaudit.topics import Topic
from tests.pipeline_support import wait_for
from tests.unit.alert.support import Receiver, free_port, incident

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()
ROUTING_KEY = "it-routing-key-secret"

# (partition, entry): two incidents per partition, with 'hits' in between that
# must never page, and one below every route's severity.
TIMELINE = [
    (0, incident("opened", incident_id="A", severity="critical")),
    (0, incident("hits", incident_id="A", severity="critical", version=2)),
    (0, incident("acknowledged", incident_id="A", severity="critical", version=3)),
    (0, incident("opened", incident_id="B", severity="low")),
    (0, incident("resolved", incident_id="A", severity="critical", version=4)),
    (1, incident("opened", incident_id="C", severity="high")),
    (1, incident("hits", incident_id="C", severity="high", version=2)),
    (1, incident("hits", incident_id="C", severity="high", version=3)),
    (1, incident("resolved", incident_id="C", severity="high", version=4)),
    (1, incident("opened", incident_id="D", severity="info", tenant="globex")),
]
FLAKY_KEYS = {"A:opened", "A:acknowledged", "A:resolved", "B:opened", "C:opened", "C:resolved"}
PAGER_KEYS = {"A:opened", "A:acknowledged", "A:resolved", "C:opened", "C:resolved"}


@pytest.fixture
def alert_settings(settings: Settings, kafka_bootstrap: str) -> Settings:
    from agentaudit.admin import ensure_topics

    configured = settings.with_changes(kafka_bootstrap=kafka_bootstrap, metrics_port=-1)
    ensure_topics(configured, kafka_bootstrap)
    return configured


@pytest.fixture
def pager() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def publish(settings: Settings) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    for partition, entry in TIMELINE:
        producer.produce(settings.topic(Topic.INCIDENTS), codec.encode("Incident", entry),
                         entry["agent_id"].encode(), partition=partition)
    assert producer.flush(30) == 0


def committed(settings: Settings) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap,
                         "group.id": f"{settings.topic_prefix}agentaudit-alert"})
    try:
        wanted = [TopicPartition(settings.topic(Topic.INCIDENTS), p) for p in (0, 1)]
        return {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10) if tp.offset >= 0}
    finally:
        consumer.close()


def deliveries(settings: Settings) -> list[tuple[bytes, dict[str, Any]]]:
    """Every AlertDelivery on audit.alerts, with its key."""
    topic = settings.topic(Topic.ALERTS)
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}probe",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in range(settings.partitions)}
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[tuple[bytes, dict[str, Any]]] = []
        while sum(ends.values()) > len(out):
            for msg in consumer.consume(100, timeout=5):
                assert msg.error() is None, msg.error()
                out.append((msg.key(), codec.decode("AlertDelivery", msg.value())))
        return out
    finally:
        consumer.close()


@pytest.mark.slow
def test_an_endpoint_that_is_down_across_a_crash_and_a_stop_loses_no_alert(
    alert_settings: Settings, pager: Receiver, tmp_path: Path
) -> None:
    flaky_port = free_port()
    routes = tmp_path / "routes.yaml"
    routes.write_text(yaml.safe_dump({"routes": [
        {"name": "flaky", "kind": "webhook", "url": f"http://127.0.0.1:{flaky_port}/hook",
         "match": {"min_severity": "low"}, "timeout_s": 2},
        {"name": "pager", "kind": "pagerduty", "url": pager.url, "routing_key_env": "IT_PD_KEY",
         "match": {"min_severity": "high", "tenants": ["acme"]}},
    ]}))
    env = {**os.environ, **alert_settings.to_env(), "IT_PD_KEY": ROUTING_KEY}
    log_path = tmp_path / "alert.log"

    def start() -> subprocess.Popen[bytes]:
        log = log_path.open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "agentaudit", "-v", "alert", "--routes", str(routes),
             "--backoff-initial-s", "0.1", "--backoff-max-s", "0.5", "--drain-s", "1"],
            env=env, stdout=log, stderr=log)

    def log_tail() -> str:
        return log_path.read_text()[-4000:]

    publish(alert_settings)

    # 1. The flaky receiver is not even listening: the healthy route delivers
    #    everything it takes regardless; then the alerter is killed outright.
    alerter = start()
    try:
        wait_for("the pager route's alerts", lambda: {r.headers["Idempotency-Key"] for r in pager.accepted()} == PAGER_KEYS)
        wait_for("a refused attempt recorded", lambda: any(
            r["route"] == "flaky" and r["status"] == "retrying" and r["http_status"] is None
            for _, r in deliveries(alert_settings)))
    finally:
        alerter.send_signal(signal.SIGKILL)
        alerter.wait(30)
    assert committed(alert_settings).get(0, 0) == 0 and committed(alert_settings).get(1, 0) == 0

    # 2. The receiver answers 503: retried, then a clean stop commits nothing
    #    past the first entry of each partition, which the flaky route still owes.
    flaky = Receiver(port=flaky_port, failures=10**9, fail_status=503)
    try:
        alerter = start()
        try:
            wait_for("503s", lambda: len(flaky.requests) >= 3)
        finally:
            alerter.send_signal(signal.SIGTERM)
            assert alerter.wait(60) == 0, log_tail()
        assert committed(alert_settings).get(0, 0) == 0 and committed(alert_settings).get(1, 0) == 0, log_tail()
        assert not flaky.accepted()

        # 3. The receiver recovers and the alerter starts again: every alert
        #    arrives, exactly once per dedup key, and every offset is committed.
        flaky.failures = 0
        alerter = start()
        try:
            wait_for("everything committed", lambda: committed(alert_settings) == {0: 5, 1: 5})
        finally:
            alerter.send_signal(signal.SIGTERM)
            assert alerter.wait(60) == 0, log_tail()
    finally:
        flaky.close()

    flaky_keys = [r.headers["Idempotency-Key"] for r in flaky.accepted()]
    assert sorted(flaky_keys) == sorted(FLAKY_KEYS), flaky_keys
    assert {r.body["finding_info"]["uid"] for r in flaky.accepted()} == {"A", "B", "C"}
    # The healthy route may hear an entry again after the kill; PagerDuty drops it by dedup_key.
    events = [(r.body["dedup_key"], r.body["event_action"]) for r in pager.accepted()]
    assert set(events) == {("A", "trigger"), ("A", "acknowledge"), ("A", "resolve"), ("C", "trigger"), ("C", "resolve")}

    records = deliveries(alert_settings)
    assert all(key == record["incident_id"].encode() for key, record in records)
    delivered = {(r["route"], r["dedup_key"]) for _, r in records if r["status"] == "delivered"}
    assert delivered == {("flaky", k) for k in FLAKY_KEYS} | {("pager", k) for k in PAGER_KEYS}
    flaky_statuses = {(r["status"], r["http_status"]) for _, r in records if r["route"] == "flaky"}
    assert {("retrying", 503), ("delivered", 200)} <= flaky_statuses
    assert not any(r["status"] == "failed" for _, r in records)
    assert ROUTING_KEY not in log_path.read_text()
