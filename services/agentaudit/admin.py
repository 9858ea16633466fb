"""Creates the pipeline's topics and checks the ones that exist.

The pipeline relies on two topic properties it cannot check per message
cheaply: every pipeline topic has the same partition count (outputs keep the
input's partition number), and agent.actions is stamped by the broker
(LogAppendTime), which makes the ingest time authoritative and replayable.
The agent registry is the exception to the shared count: exactly one
partition, kept forever (topics.py says why).
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import ConfigResource, NewTopic  # type: ignore[attr-defined]  # documented path, no __all__

from agentaudit.errors import ConfigError, TransientError
from agentaudit.settings import Settings
from agentaudit.topics import TOPIC_SPECS, Topic, TopicSpec, spec_of


def ensure_topics(settings: Settings, bootstrap: str, timeout_s: float = 30.0) -> list[str]:
    """Create the missing pipeline topics and check the existing ones; return the names created.

    Idempotent. Existing topics are checked before anything is created, so a
    misconfigured cluster is reported without side effects. Raises ConfigError
    naming the topic and the fix when a topic breaks what the pipeline relies
    on, TransientError when the cluster does not answer.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = _partition_counts(admin, bootstrap, timeout_s)
    _check(admin, settings, [s for s in TOPIC_SPECS if settings.topic(s.topic) in existing], existing, timeout_s)
    missing = [s for s in TOPIC_SPECS if settings.topic(s.topic) not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [NewTopic(settings.topic(s.topic), _partitions(settings, s), settings.replication_factor, config=s.config)
         for s in missing],
        operation_timeout=timeout_s,
    )
    created: list[str] = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue  # another process created it meanwhile: checked below
            if error.retriable():
                raise TransientError(f"creating topic {name} on {bootstrap}: {error}") from exc
            raise ConfigError(f"cannot create topic {name} on {bootstrap}: {error}") from exc
    raced = [s for s in missing if settings.topic(s.topic) not in created]
    if raced:
        _check(admin, settings, raced, _partition_counts(admin, bootstrap, timeout_s), timeout_s)
    return created


def verify_topic(settings: Settings, bootstrap: str, topic: Topic, timeout_s: float = 30.0) -> None:
    """Check that one topic exists and is configured as its spec says; ConfigError with the fix if not.

    For a stage that must not write to a topic created with the wrong settings
    (a broker that auto-creates topics would give it its own defaults).
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    counts = _partition_counts(admin, bootstrap, timeout_s)
    name = settings.topic(topic)
    if name not in counts:
        raise ConfigError(f"topic {name} does not exist on {bootstrap}: create it with `agentaudit topics ensure`")
    _check(admin, settings, [spec_of(topic)], counts, timeout_s)


def _partitions(settings: Settings, spec: TopicSpec) -> int:
    return spec.partitions or settings.partitions


def _partition_counts(admin: AdminClient, bootstrap: str, timeout_s: float) -> dict[str, int]:
    """Partitions per existing topic."""
    try:
        return {name: len(topic.partitions) for name, topic in admin.list_topics(timeout=timeout_s).topics.items()}
    except KafkaException as exc:
        raise TransientError(f"Kafka at {bootstrap} did not answer: {exc}") from exc


def _check(
    admin: AdminClient, settings: Settings, specs: Iterable[TopicSpec], partition_counts: dict[str, int],
    timeout_s: float,
) -> None:
    for spec in specs:
        name = settings.topic(spec.topic)
        partitions = partition_counts[name]
        if spec.partitions is not None and partitions != spec.partitions:
            raise ConfigError(
                f"topic {name} has {partitions} partitions; it must have exactly {spec.partitions}, because its "
                f"order is the order of its entries. Partitions cannot be removed: delete and recreate it if it "
                f"holds nothing yet, or use a new AGENTAUDIT_TOPIC_PREFIX"
            )
        if spec.partitions is None and partitions != settings.partitions:
            raise ConfigError(
                f"topic {name} has {partitions} partitions but AGENTAUDIT_PARTITIONS is {settings.partitions}; "
                f"all pipeline topics need the same count because outputs keep their input's partition number. "
                f"Set AGENTAUDIT_PARTITIONS={partitions} if every pipeline topic has {partitions}, or use a new "
                f"AGENTAUDIT_TOPIC_PREFIX (adding partitions to a topic in use moves agents to other "
                f"partitions and breaks the order of their actions)"
            )
        for key in spec.checked:
            wanted = spec.config[key]
            actual = _config(admin, name, key, timeout_s)
            if actual != wanted:
                raise ConfigError(
                    f"topic {name} has {key}={actual}; the pipeline needs {wanted} {_WHY.get(key, '')}. "
                    f"Fix: kafka-configs.sh --bootstrap-server … "
                    f"--alter --entity-type topics --entity-name {name} --add-config {key}={wanted}"
                )


_WHY = {
    "message.timestamp.type": "so that the broker, not the agent, stamps the ingest time",
    "retention.ms": "so that the agent registry's history is never deleted",
    "cleanup.policy": "so that every registry change is kept, not only each agent's latest",
}


def _config(admin: AdminClient, topic: str, key: str, timeout_s: float) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    try:
        entries = admin.describe_configs([resource], request_timeout=timeout_s)[resource].result(timeout=timeout_s)
    except KafkaException as exc:
        raise TransientError(f"describing topic {topic}: {exc}") from exc
    return str(entries[key].value)
