"""The test broker is a real Kafka: idempotent and transactional producers work
on it, topics are created and checked as the pipeline needs them; and the local
broker from the official jars restarts with its data and address."""

from __future__ import annotations

import json
import socket
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from agentaudit.admin import ensure_topics
from agentaudit.dev import kafka
from agentaudit.dev.kafka import BrokerState, LocalKafka, resolve_bootstrap
from agentaudit.errors import ConfigError
from agentaudit.settings import Settings
from agentaudit.topics import TOPIC_SPECS, Topic

pytestmark = pytest.mark.integration

quiet = lambda _line: None  # noqa: E731 - LocalKafka's progress lines are not what these tests check


def read(bootstrap: str, topic: str, count: int, timeout_s: float = 20.0) -> list[Message]:
    """The first `count` committed messages of `topic`, read by a new consumer group."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": uuid.uuid4().hex,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(messages) < count and time.monotonic() < deadline:
            messages += [m for m in consumer.consume(count - len(messages), timeout=1) if m.error() is None]
    finally:
        consumer.close()
    return messages


def create(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})  # kept alive until the future resolves
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result()


def test_the_broker_answers(kafka_bootstrap: str) -> None:
    metadata = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert len(metadata.brokers) >= 1


def test_idempotent_and_transactional_producers_work_on_one_broker(settings: Settings) -> None:
    topic = f"{settings.topic_prefix}tx"
    create(settings.kafka_bootstrap, topic, 1)
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
    # read_committed: the aborted record, written between the two, is skipped
    assert [m.value() for m in read(settings.kafka_bootstrap, topic, 2)] == [b"one", b"committed"]


def test_ensure_topics_creates_every_topic_as_the_pipeline_needs_it(settings: Settings) -> None:
    created = ensure_topics(settings, settings.kafka_bootstrap)
    assert sorted(created) == sorted(settings.topic(s.topic) for s in TOPIC_SPECS)
    assert ensure_topics(settings, settings.kafka_bootstrap) == []  # idempotent
    metadata = AdminClient({"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10)
    for spec in TOPIC_SPECS:
        assert len(metadata.topics[settings.topic(spec.topic)].partitions) == (spec.partitions or settings.partitions)
    actions = settings.topic(Topic.ACTIONS)
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(actions, b"x", timestamp=1_000)  # the agent's claim, which the broker overrides
    assert producer.flush(30) == 0
    (message,) = read(settings.kafka_bootstrap, actions, 1)
    kind, stamp = message.timestamp()
    assert kind == TIMESTAMP_LOG_APPEND_TIME and stamp > 1_000


def test_ensure_topics_refuses_a_topic_with_the_wrong_partition_count(settings: Settings) -> None:
    name = settings.topic(Topic.RECORDS)
    create(settings.kafka_bootstrap, name, 1)
    with pytest.raises(ConfigError, match=rf"{name} has 1 partitions.*AGENTAUDIT_PARTITIONS"):
        ensure_topics(settings, settings.kafka_bootstrap)
    # checked before anything was created
    assert settings.topic(Topic.ACTIONS) not in AdminClient(
        {"bootstrap.servers": settings.kafka_bootstrap}).list_topics(timeout=10).topics


def test_ensure_topics_refuses_actions_stamped_by_producers(settings: Settings) -> None:
    name = settings.topic(Topic.ACTIONS)
    create(settings.kafka_bootstrap, name, settings.partitions)
    with pytest.raises(ConfigError, match=rf"{name} has message.timestamp.type=CreateTime.*LogAppendTime"):
        ensure_topics(settings, settings.kafka_bootstrap)


def test_local_broker_restarts_with_its_data_and_address(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    broker = LocalKafka(settings)
    try:
        bootstrap = broker.up(echo=quiet)
        recorded = json.loads((tmp_path / "kafka" / "broker.json").read_text())
        assert recorded["bootstrap"] == bootstrap and recorded["log"] == str(broker.log_path)
        assert resolve_bootstrap(settings) == bootstrap
        assert broker.up(echo=quiet) == bootstrap  # idempotent: finds the running broker
        assert broker.status() is not None and broker.status().pid == recorded["pid"]  # type: ignore[union-attr]
        create(bootstrap, "kept", 1)
        producer = Producer({"bootstrap.servers": bootstrap})
        producer.produce("kept", b"survives a restart")
        assert producer.flush(30) == 0

        assert broker.down()
        assert broker.status() is None and broker.process() is None
        assert not broker.down()
        with pytest.raises(ConfigError, match="agentaudit dev kafka up.*AGENTAUDIT_KAFKA_BOOTSTRAP"):
            resolve_bootstrap(settings)

        assert broker.up(echo=quiet) == bootstrap
        assert [m.value() for m in read(bootstrap, "kept", 1)] == [b"survives a restart"]
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "g"})
        assert consumer.get_watermark_offsets(TopicPartition("kept", 0), timeout=10) == (0, 1)
        consumer.close()
    finally:
        broker.down()


def test_local_broker_that_exits_fails_fast_with_its_log(tmp_path: Path) -> None:
    broker = LocalKafka(Settings(home=tmp_path))
    data = tmp_path / "kafka" / "data"
    data.mkdir(parents=True)
    # Storage formatted for another node: the broker refuses it and exits.
    (data / "meta.properties").write_text("version=1\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nnode.id=7\n")
    began = time.monotonic()
    with pytest.raises(ConfigError, match="exited during start-up") as raised:
        broker.up(timeout_s=120, echo=quiet)
    assert time.monotonic() - began < 60
    assert "node" in str(raised.value).lower()  # the log's tail says why
    assert broker.process() is None


def test_local_broker_moves_to_other_ports_when_its_own_were_taken_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = LocalKafka(Settings(home=tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        broker.dir.mkdir(parents=True)
        broker.state_file.write_text(BrokerState(1, port, kafka.free_port(), "").to_json())
        # The port looks free when checked and is taken when the broker binds it.
        monkeypatch.setattr(kafka, "port_is_free", lambda _port: True)
        try:
            bootstrap = broker.up(echo=quiet)
            assert bootstrap != f"127.0.0.1:{port}"
            assert AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
        finally:
            broker.down()
