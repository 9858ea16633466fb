"""The local broker is a real Kafka: idempotence, transactions, topic checks,
and a restart that keeps its data and address."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from agentaudit.admin import ensure_topics
from agentaudit.dev.kafka import LocalKafka, resolve_bootstrap
from agentaudit.errors import ConfigError
from agentaudit.settings import Settings
from agentaudit.topics import TOPIC_SPECS, Topic

pytestmark = pytest.mark.integration


def read_one(bootstrap: str, topic: str, isolation: str = "read_committed") -> list[object]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "isolation.level": isolation})
    consumer.subscribe([topic])
    try:
        return [m for m in consumer.consume(10, timeout=10) if m.error() is None]
    finally:
        consumer.close()


def test_idempotent_and_transactional_producers_work_on_one_broker(settings: Settings) -> None:
    topic = f"{settings.topic_prefix}tx"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    idempotent = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True})
    idempotent.produce(topic, b"one")
    assert idempotent.flush(30) == 0
    tx = Producer({"bootstrap.servers": settings.kafka_bootstrap, "transactional.id": uuid.uuid4().hex})
    tx.init_transactions(30)
    tx.begin_transaction()
    tx.produce(topic, b"aborted")
    tx.abort_transaction(30)
    tx.begin_transaction()
    tx.produce(topic, b"committed")
    tx.commit_transaction(30)
    assert [m.value() for m in read_one(settings.kafka_bootstrap, topic)] == [b"one", b"committed"]  # type: ignore[attr-defined]


def test_ensure_topics_creates_checks_and_is_idempotent(settings: Settings) -> None:
    created = ensure_topics(settings, settings.kafka_bootstrap)
    assert sorted(created) == sorted(settings.topic(s.topic) for s in TOPIC_SPECS)
    assert ensure_topics(settings, settings.kafka_bootstrap) == []
    metadata = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10)
    for spec in TOPIC_SPECS:
        assert len(metadata.topics[settings.topic(spec.topic)].partitions) == settings.partitions
    actions = settings.topic(Topic.ACTIONS)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(actions, b"x", timestamp=1_000)  # a producer's claim, which the broker overrides
    producer.flush(30)
    (msg,) = read_one(settings.kafka_bootstrap, actions)
    kind, stamp = msg.timestamp()  # type: ignore[attr-defined]
    assert kind == 2 and stamp > 1_000  # TIMESTAMP_LOG_APPEND_TIME


def test_ensure_topics_refuses_a_topic_with_the_wrong_partition_count(settings: Settings) -> None:
    name = settings.topic(Topic.RECORDS)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(name, 1, 1)])[name].result()
    with pytest.raises(ConfigError, match="partitions"):
        ensure_topics(settings, settings.kafka_bootstrap)


def test_ensure_topics_refuses_actions_stamped_by_producers(settings: Settings) -> None:
    name = settings.topic(Topic.ACTIONS)
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(name, settings.partitions, 1)])[name].result()
    with pytest.raises(ConfigError, match="LogAppendTime"):
        ensure_topics(settings, settings.kafka_bootstrap)


def test_restart_keeps_data_and_bootstrap(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    broker = LocalKafka(settings)
    try:
        bootstrap = broker.up(echo=lambda _line: None)
        assert resolve_bootstrap(settings) == bootstrap
        assert broker.up() == bootstrap  # idempotent: finds the running broker
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic("kept", 1, 1)])["kept"].result()
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("kept", b"survives a restart")
        assert producer.flush(30) == 0
        assert broker.down()
        assert broker.status() is None
        with pytest.raises(ConfigError, match="dev kafka up"):
            resolve_bootstrap(settings)
        assert broker.up(echo=lambda _line: None) == bootstrap
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g"})
        assert consumer.get_watermark_offsets(TopicPartition("kept", 0), timeout=10) == (0, 1)
        consumer.close()
    finally:
        broker.down()
