"""Turns one input message into an AuditRecord or a Rejection. No I/O.

The same input always gives the same output: the ingest time is the broker's
log-append stamp stored with the message, not a clock read here, so a replay
after a crash produces identical records (invariant 4). The agent's own clock is
kept and compared against it (invariant 6).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from agentaudit.codec import Codec
from agentaudit.errors import PermanentError, ValidationError

# Kafka's record timestamp types (librdkafka and aiokafka agree on the numbers).
LOG_APPEND_TIME = 1


@dataclass(frozen=True)
class Input:
    """One consumed message, with its coordinates and broker timestamp."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    timestamp_type: int


@dataclass(frozen=True)
class Limits:
    max_action_bytes: int
    max_future_skew_us: int
    max_past_skew_us: int


@dataclass(frozen=True)
class Outcome:
    """Exactly one of record / rejection is set; kind names which."""

    record: dict[str, Any] | None = None
    rejection: dict[str, Any] | None = None
    action: dict[str, Any] | None = None  # a rejection's decoded action, when it decoded (for redaction)

    @property
    def accepted(self) -> bool:
        return self.record is not None


_REQUIRED_TEXT = ("agent_id", "session_id", "tenant_id")


def check_action(action: dict[str, Any], key: bytes | None, ingest_us: int, limits: Limits) -> int:
    """Check the rules Avro cannot express; return the clock skew in ms."""
    for name in _REQUIRED_TEXT:
        if not action[name]:
            raise ValidationError("missing_field", f"{name} is empty")
    if not action["principal"]["id"]:
        raise ValidationError("missing_field", "principal.id is empty")
    try:
        uuid.UUID(action["event_id"])
    except ValueError:
        raise ValidationError("invalid_field", f"event_id {action['event_id']!r} is not a UUID") from None
    if action["sequence"] < 1:
        raise ValidationError("invalid_field", f"sequence {action['sequence']} must be 1 or more")
    if key is not None and key != action["agent_id"].encode():
        # The key routes the agent to one partition, which is what keeps its
        # actions in order; an action filed under another agent's key is refused.
        raise ValidationError(
            "invalid_field", f"message key {key!r} differs from agent_id {action['agent_id']!r}"
        )
    skew_us = int(action["agent_time"]) - ingest_us
    if skew_us > limits.max_future_skew_us:
        raise ValidationError(
            "clock_skew", f"agent_time is {skew_us / 1e6:.0f}s ahead of ingest time (limit {limits.max_future_skew_us / 1e6:.0f}s)"
        )
    if -skew_us > limits.max_past_skew_us:
        raise ValidationError(
            "clock_skew", f"agent_time is {-skew_us / 1e6:.0f}s behind ingest time (limit {limits.max_past_skew_us / 1e6:.0f}s)"
        )
    return skew_us // 1000


def _source(msg: Input) -> dict[str, Any]:
    return {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}


def reject(msg: Input, error: PermanentError, action: dict[str, Any] | None) -> Outcome:
    """The Rejection for msg: the reason, the coordinates and the bytes as they came."""
    agent_id = action["agent_id"] if action else None
    if agent_id is None and msg.key is not None:
        agent_id = msg.key.decode("utf-8", errors="replace")
    return Outcome(
        rejection={
            "reason_code": error.code,
            "reason": error.reason,
            "source": _source(msg),
            "ingest_time": msg.timestamp_ms * 1000,
            "key": msg.key,
            "original": msg.value or b"",
            "agent_id": agent_id,
            "tenant_id": action["tenant_id"] if action else None,
            "event_id": action["event_id"] if action else None,
            "redaction": None,
        },
        action=action,
    )


def evaluate(msg: Input, codec: Codec, limits: Limits) -> Outcome:
    """Accept msg as an AuditRecord or reject it with a reason; never raises PermanentError."""
    ingest_us = msg.timestamp_ms * 1000
    action: dict[str, Any] | None = None
    try:
        if msg.timestamp_type != LOG_APPEND_TIME:
            # Only a broker stamp is authoritative; a producer-set time could be the agent's.
            raise ValidationError(
                "untrusted_time", f"{msg.topic} is not configured with message.timestamp.type=LogAppendTime"
            )
        if not msg.value:
            raise ValidationError("empty_value", "message has no value (empty or tombstone)")
        if len(msg.value) > limits.max_action_bytes:
            raise ValidationError(
                "too_large", f"action is {len(msg.value)} bytes, over the {limits.max_action_bytes}-byte limit"
            )
        action = codec.decode("AgentAction", msg.value)
        skew_ms = check_action(action, msg.key, ingest_us, limits)
    except PermanentError as error:
        return reject(msg, error, action)
    return Outcome(
        record={
            "action": action,
            "ingest_time": ingest_us,
            "source": _source(msg),
            "clock_skew_ms": skew_ms,
            "chain": None,
            "risk_score": None,
            "rule_hits": [],
        }
    )
