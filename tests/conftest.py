"""Session infrastructure shared by every test: a real Kafka broker.

Where the broker comes from, in order: $KAFKA_BOOTSTRAP; testcontainers'
Kafka when a Docker engine answers; else a real broker from the official jars
(agentaudit.dev.kafka.LocalKafka) in a session folder. Missing infrastructure
is a failure, never a skip. Each test gets its own topic prefix, so topics and
consumer groups never leak between tests. ClickHouse is not opened here: chDB
serves one data folder per process (see tests/integration/conftest.py).
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentaudit.keyring import Keyring
from agentaudit.settings import Settings


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:  # no engine, no socket, no permission: all mean "no Docker"
        return False
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real broker for the whole session."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        yield os.environ["KAFKA_BOOTSTRAP"]
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    from agentaudit.dev.kafka import LocalKafka

    broker = LocalKafka(Settings(home=tmp_path_factory.mktemp("kafka-home")))
    try:
        yield broker.up(echo=lambda _line: None)  # raises with the broker's log when it cannot start
    finally:
        broker.down()


@pytest.fixture
def settings(tmp_path: Path, kafka_bootstrap: str) -> Settings:
    """Settings for one test: its own home folder and topic prefix, two partitions,
    embedded ClickHouse under home (clickhouse_dsn empty), no metrics endpoint,
    and a pipeline keyring under home sealed with the test's own KEK file."""
    kek = tmp_path / "kek"
    kek.write_bytes(base64.b64encode(secrets.token_bytes(32)))
    kek.chmod(0o600)
    made = Settings(
        home=tmp_path,
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
        partitions=2,
        metrics_port=-1,
        kek_file=str(kek),
    )
    Keyring.create(made)
    return made
