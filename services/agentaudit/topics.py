"""Logical topics of the pipeline, mapped to physical names in one place.

Every stage keeps the input's partition number: a record or rejection made from
agent.actions partition p is written to partition p of its output topic. That
keeps each agent's actions in order end to end and lets the sink de-duplicate
replays by (source partition, source offset); so all pipeline topics share one
partition count. The agent registry is not a pipeline topic in that sense: it
has exactly one partition of its own (see TOPIC_SPECS).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

MIB = 1024 * 1024


class Topic(enum.Enum):
    ACTIONS = "agent.actions"
    RECORDS = "audit.records"
    REJECTED = "audit.rejected"
    INCIDENTS = "audit.incidents"
    SEALS = "audit.seals"
    PROCESS_STATE = "agentaudit.process-state"
    REGISTRY = "agent.registry"
    CONTROL = "agent.control"
    ALERTS = "audit.alerts"
    SUBJECT_KEYS = "privacy.subject-keys"
    PRIVACY_REQUESTS = "privacy.requests"

    def physical(self, prefix: str = "") -> str:
        return f"{prefix}{self.value}"


@dataclass(frozen=True)
class TopicSpec:
    topic: Topic
    config: dict[str, str]
    partitions: int | None = None  # None: AGENTAUDIT_PARTITIONS, like every pipeline topic
    checked: tuple[str, ...] = ()  # config keys an existing topic must match, not only a new one


def _spec(
    topic: Topic, max_message_bytes: int, extra: dict[str, str] | None = None, *,
    partitions: int | None = None, checked: tuple[str, ...] = (),
) -> TopicSpec:
    return TopicSpec(topic, {"max.message.bytes": str(max_message_bytes), **(extra or {})}, partitions, checked)


# The broker, not the agent, stamps agent.actions with LogAppendTime: that stamp
# is the authoritative ingest time (invariant 6) and, being stored in the log,
# it is the same on every replay (invariant 4). The inputs may be larger than
# the pipeline accepts so that an oversized action is rejected and kept rather
# than refused at the door; audit.rejected must hold it with its envelope.
#
# agent.registry is the registry's history: one partition, because a single
# log order is what gives changes their positions and hash chain (and what
# lets one transactional writer at a time extend it); kept forever
# (retention.ms=-1), because "what was agent X allowed to do on date D" must be
# answerable for every D, and compaction would keep only the latest change per
# agent (cleanup.policy=delete, with nothing ever old enough to delete). Both are
# checked on an existing topic too: a registry created elsewhere with the
# broker's defaults (7 days) would silently lose its history.
TOPIC_SPECS: tuple[TopicSpec, ...] = (
    _spec(Topic.ACTIONS, 4 * MIB, {"message.timestamp.type": "LogAppendTime"}, checked=("message.timestamp.type",)),
    _spec(Topic.RECORDS, 2 * MIB),
    _spec(Topic.REJECTED, 8 * MIB),
    _spec(Topic.INCIDENTS, 1 * MIB),
    _spec(Topic.SEALS, 1 * MIB),
    _spec(Topic.REGISTRY, 1 * MIB, {"retention.ms": "-1", "cleanup.policy": "delete"},
          partitions=1, checked=("retention.ms", "cleanup.policy")),
    # Suspensions and reinstatements for agent runtimes (the kill switch,
    # CC7.4), keyed by agent id: a runtime needs only its agent's newest
    # state, so compaction keeps it small; the audited history of each change
    # is the registry's, not this topic's.
    # One partition, so a runtime reads it without knowing the partitioner.
    _spec(Topic.CONTROL, 1 * MIB, {"cleanup.policy": "compact"}, partitions=1),
    # The alerter's delivery attempts: one entry per incident entry, route and
    # attempt outcome, stored by the sink so "was on-call told?" is answerable.
    _spec(Topic.ALERTS, 1 * MIB),
    # The processor's per-agent chain state, keyed by agent id: only the newest
    # value per agent matters, so compaction keeps the topic the size of the
    # agent population. Restored on every partition assignment.
    _spec(Topic.PROCESS_STATE, 1 * MIB, {"cleanup.policy": "compact", "segment.ms": "3600000"}),
    # Data subjects' keys (agentaudit.privacy.keys), partitioned like
    # agent.actions. Erasing a key writes a newer value for it; the old value
    # is the only copy of the key, so compaction must remove it by a deadline:
    # segments roll hourly, any dirty share makes a log cleanable, and no
    # value stays uncompacted for more than a day (max.compaction.lag.ms).
    _spec(Topic.SUBJECT_KEYS, 1 * MIB, {
        "cleanup.policy": "compact", "segment.ms": "3600000", "min.cleanable.dirty.ratio": "0.01",
        "max.compaction.lag.ms": "86400000",
    }, checked=("cleanup.policy", "max.compaction.lag.ms")),
    # Every data-subject request (dsar find and erase): who asked, who
    # approved, why and what was found or erased; kept forever like the registry.
    _spec(Topic.PRIVACY_REQUESTS, 1 * MIB, {"retention.ms": "-1", "cleanup.policy": "delete"},
          partitions=1, checked=("retention.ms", "cleanup.policy")),
)


def spec_of(topic: Topic) -> TopicSpec:
    return next(spec for spec in TOPIC_SPECS if spec.topic is topic)
