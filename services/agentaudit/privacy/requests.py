"""The log of data-subject requests: every `dsar find` and `dsar erase`, on privacy.requests.

One partition, kept forever (topics.py), like the registry: "who looked up
or erased whose data, on whose approval, and why" must stay answerable. An
entry names the subject by its keyed hash, never by the id that was asked
for. Each entry is written, and acknowledged by the broker, before the
request does anything: a lookup whose entry cannot be written shows nothing,
an erasure whose entry cannot be written erases nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from agentaudit.errors import AgentAuditError, TransientError
from agentaudit.settings import Settings
from agentaudit.topics import Topic


class DsarRefusal(AgentAuditError):
    """A data-subject request that may not run as asked (e.g. an erasure approved by its own actor)."""


@dataclass(frozen=True)
class DsarRequest:
    kind: str  # find or erase
    tenant_id: str
    subject_ref: str
    actor: str
    reason: str
    approver: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    at_us: int = field(default_factory=lambda: time.time_ns() // 1000)
    outcome: dict[str, Any] = field(default_factory=dict)  # what was found or erased, counts and key ids

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()


def check(request: DsarRequest) -> None:
    """The rules every request follows; erasure needs a second person (separation of duties)."""
    for name in ("tenant_id", "subject_ref", "actor", "reason"):
        if not str(getattr(request, name) or "").strip():
            raise DsarRefusal(f"{name.replace('_', ' ')} is required: every data-subject request says who and why")
    if request.kind == "erase":
        approver = (request.approver or "").strip()
        if not approver:
            raise DsarRefusal("an erasure needs --approver: someone other than the actor approves it")
        if approver.casefold() == request.actor.strip().casefold():
            raise DsarRefusal(f"{request.actor} cannot approve their own erasure: the approver must be someone else")


def producer(settings: Settings, bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "client.id": f"{settings.topic_prefix}agentaudit-dsar"})


def deliver(out: Producer, topic: str, items: Sequence[tuple[bytes, bytes, int | None]], what: str) -> None:
    """Produce (key, value, partition) items and wait until the broker acknowledged every one."""
    failures: list[KafkaError] = []

    def delivered(error: KafkaError | None, _msg: Message) -> None:
        if error is not None:
            failures.append(error)

    for key, value, partition in items:
        if partition is None:
            out.produce(topic, value, key, on_delivery=delivered)
        else:
            out.produce(topic, value, key, partition=partition, on_delivery=delivered)
    remaining = out.flush(30.0)
    if remaining or failures:
        raise TransientError(f"{what}: the broker did not acknowledge it ({failures[0] if failures else 'timeout'})")


def record(settings: Settings, out: Producer, request: DsarRequest) -> None:
    """Write the request's log entry and wait for it (before the request acts)."""
    deliver(out, settings.topic(Topic.PRIVACY_REQUESTS), [(request.subject_ref.encode(), request.to_json(), None)],
            f"logging data-subject request {request.request_id}")
