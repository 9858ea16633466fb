"""Invariant 1: every event consumed from agent.actions ends in ClickHouse
exactly once, as a record or as a rejection with its reason and original bytes
— also when the processor and the sink are killed with SIGKILL mid-stream and
restarted, and when the processor reprocesses everything from the start. Invariant 2 rides along: the malformed inputs never stop anything."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from agentaudit.admin import ensure_topics
from agentaudit.codec import SingleObjectCodec
from agentaudit.demo.driver import Driver
from agentaudit.demo.identities import enroll
from agentaudit.demo.run import wait_until_stored
from agentaudit.demo.stack import Offsets, Service
from agentaudit.demo.workload import Workload, agents
from agentaudit.settings import Settings
from agentaudit.topics import Topic
from tests.pipeline_support import read_to_end, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READ_STORE = """
import json, sys
from agentaudit.settings import Settings
from agentaudit.store.client import connect
s = Settings.from_env()
c = connect(s)
db = s.clickhouse_database
q = lambda sql: c.query(sql).result_rows
print(json.dumps({
    "records": q(f"SELECT count(), uniqExact(source_partition, source_offset), uniqExact(event_id) FROM {db}.audit_records")[0],
    "rejections": q(f"SELECT count(), uniqExact(source_partition, source_offset) FROM {db}.audit_rejections")[0],
    "reasons": dict(q(f"SELECT reason_code, count() FROM {db}.audit_rejections GROUP BY reason_code")),
    "originals_empty": q(f"SELECT countIf(original = '' AND reason_code != 'empty_value') FROM {db}.audit_rejections")[0][0],
}))
c.close()
"""


def read_store(settings: Settings) -> dict[str, Any]:
    """Read ClickHouse from another process: chDB lets one process hold a folder."""
    out = subprocess.run([sys.executable, "-c", READ_STORE], env={**Service("r", [], settings).env},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def rewind(settings: Settings, group: str, topic: str) -> None:
    """Set an (empty) consumer group back to the start of every partition."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p, 0) for p in range(settings.partitions)])
    wait_for("the processor group to accept a rewind",
             lambda: admin.alter_consumer_group_offsets([request])[group].result() is not None, 60)


def forget_chain_state(settings: Settings) -> None:
    """Tombstone every entry of the processor's state topic, as if it had been lost."""
    topic = settings.topic(Topic.PROCESS_STATE)
    keys = {key for _p, key, _v in read_to_end(settings.kafka_bootstrap, topic)}
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for partition in range(settings.partitions):
        for key in keys:
            producer.produce(topic, None, key, partition=partition)
    assert producer.flush(30) == 0


def test_every_input_lands_exactly_once_despite_sigkill_of_processor_and_sink(settings: Settings) -> None:
    # Small sink batches so that a kill lands between and inside batches.
    settings = settings.with_changes(sink_batch=250, sink_linger_s=0.2, process_batch=200)
    ensure_topics(settings, settings.kafka_bootstrap)
    profiles = agents(5)
    signers = enroll(settings, settings.kafka_bootstrap, profiles, lambda _line: None)
    driver = Driver(settings.kafka_bootstrap, settings.topic(Topic.ACTIONS), SingleObjectCodec(), signers)
    driver.run(Workload(profiles, bad_ratio=0.05, seed=11).plan(6000))
    driver.close()
    expected_reasons = {k: v for k, v in driver.expected.items() if k != "recorded"}

    processor, sink = Service("processor", ["process"], settings), Service("sink", ["sink"], settings)
    offsets = Offsets(settings.kafka_bootstrap, settings.partitions)
    records_topic = settings.topic(Topic.RECORDS)
    try:
        processor.start()
        sink.start()
        wait_for("the processor to get going", lambda: offsets.end(records_topic) > 1500, 120)
        processor.kill()
        processor.start()
        wait_for("the sink to store a few batches",
                 lambda: offsets.committed(f"{settings.topic_prefix}agentaudit-sink", records_topic) > 2000, 120)
        sink.kill()
        sink.start()
        wait_until_stored(offsets, settings, [processor, sink], 300, lambda _line: None)
        # Whether the kill left uncommitted batches to replay depends on timing;
        # so replay everything for certain: a processor that lost its offsets
        # and its chain state recomputes every chain and seal from the start.
        assert processor.stop() == 0
        rewind(settings, f"{settings.topic_prefix}agentaudit-processor", settings.topic(Topic.ACTIONS))
        forget_chain_state(settings)
        processor.start()
        wait_until_stored(offsets, settings, [processor, sink], 300, lambda _line: None)
        outputs = offsets.end(records_topic) + offsets.end(settings.topic(Topic.REJECTED))
        assert outputs >= 2 * 6000, "the rewound processor did not emit everything again"
        # Invariant 4: every repeat is byte-identical to the first output, seals included.
        assert_repeats_identical(settings, Topic.RECORDS, "AuditRecord")
        assert_repeats_identical(settings, Topic.SEALS, "Seal")
    finally:
        offsets.close()
        sink.stop()
        processor.stop()

    stored = read_store(settings)
    count, distinct_sources, distinct_events = stored["records"]
    assert count == distinct_sources == distinct_events == driver.expected["recorded"]
    rejections, distinct_rejected = stored["rejections"]
    assert rejections == distinct_rejected == sum(expected_reasons.values())
    assert stored["reasons"] == expected_reasons
    assert stored["originals_empty"] == 0
    # Invariant 3/4 end to end: the stored chains and seals verify, and so does
    # every query column the sink derived from the stored bytes.
    verified = subprocess.run([sys.executable, "-m", "agentaudit", "verify", "--columns", "--json"],
                              env=Service("v", [], settings).env, capture_output=True, text=True, timeout=300)
    report = json.loads(verified.stdout)
    assert verified.returncode == 0 and report["ok"], (report["findings"][:5], verified.stderr[-2000:])
    assert report["records"] == report["columns_checked"] == driver.expected["recorded"]
    assert report["seals"] > 0


def assert_repeats_identical(settings: Settings, topic: Topic, schema: str) -> None:
    codec = SingleObjectCodec()
    first: dict[tuple[object, ...], bytes] = {}
    repeats = 0
    for partition, _key, value in read_to_end(settings.kafka_bootstrap, settings.topic(topic)):
        assert value is not None
        datum = codec.decode(schema, value)
        identity = (partition, datum["source"]["offset"]) if schema == "AuditRecord" else \
            (datum["agent_id"], datum["seq"])
        if identity in first:
            repeats += 1
            assert first[identity] == value, f"{topic.value} {identity} differs on replay: a chain forked"
        else:
            first[identity] = value
    assert repeats > 0, f"nothing on {topic.value} was emitted twice; the replay proved nothing"
