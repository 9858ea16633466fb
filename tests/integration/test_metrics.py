"""The processor and the sink as real processes, scraped: every metric the alert
rules read is served, with the values a small healthy run gives them."""

from __future__ import annotations

import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentaudit.admin import ensure_topics
from agentaudit.demo.stack import Service
from agentaudit.emit import Emitter, Principal
from agentaudit.settings import Settings
from agentaudit.topics import Topic
from tests.integration.test_processor import enrolled
from tests.pipeline_support import running, wait_for

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), -1.0)


def scraped(port: int, condition: object) -> bool:
    try:
        return bool(condition(scrape(port)))  # type: ignore[operator]
    except OSError:  # not serving yet
        return False


def test_processor_and_sink_serve_the_metrics_the_alerts_read(settings: Settings) -> None:
    ensure_topics(settings, settings.kafka_bootstrap)
    signers = enrolled(settings)
    sent = 20
    with Emitter(settings.kafka_bootstrap, "agent-1", "acme", topic=settings.topic(Topic.ACTIONS),
                 signer=signers["agent-1"]) as emitter:
        session = emitter.session(Principal("user", "alice"))
        for i in range(sent):
            session.emit("tool_call", tool="crm.lookup", parameters={"n": i})
    ports = {"processor": free_port(), "sink": free_port()}
    processor = Service("processor", ["process"], settings.with_changes(metrics_port=ports["processor"]))
    sink = Service("sink", ["sink"], settings.with_changes(metrics_port=ports["sink"]))

    with running(processor), running(sink):
        stored = ("agentaudit_sink_rows_inserted_total", (("table", "audit_records"),))
        wait_for("records stored", lambda: scraped(ports["sink"], lambda s: s.get(stored, 0) >= sent), 120)
        # Lag is measured every 15 s from committed offsets: wait for a measurement after the commits.
        for group, port, topic in (("processor", ports["processor"], "agent.actions"),
                                   ("sink", ports["sink"], "audit.records")):
            wait_for(f"{group} lag 0", lambda: scraped(port, lambda s: value(
                s, "agentaudit_consumer_lag_messages", group=group, topic=topic) == 0), 60)
        proc, snk = scrape(ports["processor"]), scrape(ports["sink"])

    for stage in ("validate", "attribute", "score", "chain", "publish"):  # score: the packaged rules are on
        assert value(proc, "agentaudit_process_stage_seconds_count", stage=stage) >= sent, stage
    assert value(proc, "agentaudit_process_stage_seconds_count", stage="flush") >= 1
    assert value(proc, "agentaudit_process_seal_interval_seconds") == settings.seal_interval_s
    # 20 records, sealed every 1000 or 300 s: unsealed at most since the run began (0 if a period just ended)
    assert 0 <= value(proc, "agentaudit_process_seal_lag_seconds") < 300
    assert value(proc, "agentaudit_consumer_lag_measured_timestamp_seconds", group="processor") > 0
    for topic in ("audit.records", "audit.rejected", "audit.seals"):
        assert value(snk, "agentaudit_consumer_lag_messages", group="sink", topic=topic) == 0, topic
    # The registry is written in transactions: the commit marker after its last
    # entry takes an offset that no consumed message commits past (lag.py).
    assert value(snk, "agentaudit_consumer_lag_messages", group="sink", topic="agent.registry") in (0, 1)
    for since in ("emit", "ingest"):
        assert value(snk, "agentaudit_pipeline_end_to_end_seconds_count", since=since) == sent, since


def test_the_lag_of_a_group_that_never_committed_is_the_whole_log(settings: Settings) -> None:
    """A service's group does not exist until it commits; measuring it then must answer, not crash
    (AdminClient.list_consumer_group_offsets segfaults on an unknown group in confluent-kafka 2.16)."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient

    from agentaudit.lag import LagProbe, committed_reader, incidents_group

    ensure_topics(settings, settings.kafka_bootstrap)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for n in range(5):
        producer.produce(settings.topic(Topic.INCIDENTS), b"x", f"agent-{n}".encode())
    assert producer.flush(10) == 0
    group = incidents_group(settings, "alert")  # nobody has consumed with it
    probe = LagProbe(AdminClient({"bootstrap.servers": settings.kafka_bootstrap}), group,
                     committed_reader(settings.kafka_bootstrap, group))
    assert probe.measure() == {"audit.incidents": 5}
    assert probe.measure() == {"audit.incidents": 5}  # and again, as the monitor does every interval
