"""Logical topics of the pipeline, mapped to physical names in one place.

Every stage keeps the input's partition number: a record or rejection made from
agent.actions partition p is written to partition p of its output topic. That
keeps each agent's actions in order end to end and lets the sink de-duplicate
replays by (source partition, source offset); so all pipeline topics share one
partition count.
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

    def physical(self, prefix: str = "") -> str:
        return f"{prefix}{self.value}"


@dataclass(frozen=True)
class TopicSpec:
    topic: Topic
    config: dict[str, str]


def _spec(topic: Topic, max_message_bytes: int, **extra: str) -> TopicSpec:
    return TopicSpec(topic, {"max.message.bytes": str(max_message_bytes), **extra})


# The broker, not the agent, stamps agent.actions with LogAppendTime: that stamp
# is the authoritative ingest time (invariant 6) and, being stored in the log,
# it is the same on every replay (invariant 4). The inputs may be larger than
# the pipeline accepts so that an oversized action is rejected and kept rather
# than refused at the door; audit.rejected must hold it with its envelope.
TOPIC_SPECS: tuple[TopicSpec, ...] = (
    _spec(Topic.ACTIONS, 4 * MIB, **{"message.timestamp.type": "LogAppendTime"}),
    _spec(Topic.RECORDS, 2 * MIB),
    _spec(Topic.REJECTED, 8 * MIB),
    _spec(Topic.INCIDENTS, 1 * MIB),
    _spec(Topic.SEALS, 1 * MIB),
    # The processor's per-agent chain state, keyed by agent id: only the newest
    # value per agent matters, so compaction keeps the topic the size of the
    # agent population. Restored on every partition assignment.
    _spec(Topic.PROCESS_STATE, 1 * MIB, **{"cleanup.policy": "compact", "segment.ms": "3600000"}),
)
