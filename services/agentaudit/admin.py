"""Creates the pipeline's topics and checks the ones that exist.

The pipeline relies on two topic properties it cannot check per message
cheaply: every pipeline topic has the same partition count (outputs keep the
input's partition number), and agent.actions is stamped by the broker
(LogAppendTime), which makes the ingest time authoritative and replayable.
"""

from __future__ import annotations

from collections.abc import Sized

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.cimpl import NewTopic

from agentaudit.errors import ConfigError, TransientError
from agentaudit.settings import Settings
from agentaudit.topics import TOPIC_SPECS, TopicSpec


def ensure_topics(settings: Settings, bootstrap: str, timeout_s: float = 30.0) -> list[str]:
    """Create missing pipeline topics and verify existing ones; returns the names created."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        raise TransientError(f"Kafka at {bootstrap} did not answer: {exc}") from exc
    missing = [spec for spec in TOPIC_SPECS if settings.topic(spec.topic) not in existing]
    created: list[str] = []
    if missing:
        futures = admin.create_topics(
            [NewTopic(settings.topic(s.topic), settings.partitions, settings.replication_factor, config=s.config)
             for s in missing],
            operation_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result()
                created.append(name)
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won the race
                    raise ConfigError(f"cannot create topic {name}: {exc}") from exc
    for spec in TOPIC_SPECS:
        if spec not in missing:
            _check(admin, settings, spec, existing[settings.topic(spec.topic)].partitions, timeout_s)
    return created


def _check(admin: AdminClient, settings: Settings, spec: TopicSpec, partitions: Sized, timeout_s: float) -> None:
    name = settings.topic(spec.topic)
    if len(partitions) != settings.partitions:
        raise ConfigError(
            f"topic {name} has {len(partitions)} partitions, the pipeline expects {settings.partitions} "
            f"(AGENTAUDIT_PARTITIONS): outputs keep their input's partition number, so all pipeline topics "
            f"must match; add partitions to every topic with kafka-topics.sh --alter, or set AGENTAUDIT_PARTITIONS"
        )
    wanted = spec.config.get("message.timestamp.type")
    if wanted is None:
        return
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    config = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
    actual = config["message.timestamp.type"].value
    if actual != wanted:
        raise ConfigError(
            f"topic {name} has message.timestamp.type={actual}; the pipeline needs {wanted} so that the "
            f"broker, not the agent, stamps the ingest time: kafka-configs.sh --alter --entity-type topics "
            f"--entity-name {name} --add-config message.timestamp.type={wanted}"
        )
