"""A policy, a redactor and subject keys for the privacy unit tests, with no broker."""

from __future__ import annotations

from typing import Any

from agentaudit.codec import SingleObjectCodec
from agentaudit.privacy.keys import KeyEntry, NeedSubjectKey, SubjectKeys
from agentaudit.privacy.policy import Policy, parse
from agentaudit.privacy.redact import Redactor
from agentaudit.privacy.tokens import Peppers
from agentaudit.settings import Settings

KEK = bytes(range(32))

POLICY: dict[str, Any] = {
    "version": "t1",
    "tenants": {
        "*": {
            "principal.id": "hash",
            "resource": "encrypt",
            "parameters.email": "hash",
            "parameters.card": {"action": "mask", "keep_last": 4},
            "parameters.ssn": "drop",
            "parameters.customer.name": "encrypt",
            "error.message": "encrypt",
            "attributes.customer.phone": "encrypt",
        },
        "open": {"parameters.note": "mask"},
    },
}


def policy(data: dict[str, Any] | None = None) -> Policy:
    return parse(data or POLICY, "test")


def redactor(data: dict[str, Any] | None = None) -> Redactor:
    return Redactor(policy(data), Peppers(KEK))


class CapturingProducer:
    """Stands in for the confluent producer: keeps what was produced, acknowledges nothing by itself."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, int]] = []

    def produce(self, topic: str, value: bytes, key: bytes, partition: int, on_delivery: Any = None) -> None:
        self.sent.append((topic, value, key, partition))

    def entries(self) -> list[KeyEntry]:
        return [KeyEntry.from_json(value) for _, value, _, _ in self.sent]


def subject_keys(producer: CapturingProducer | None = None, partitions: tuple[int, ...] = (0,)) -> SubjectKeys:
    keys = SubjectKeys(Settings(topic_prefix="p."), "127.0.0.1:9", producer or CapturingProducer(), KEK)  # type: ignore[arg-type]
    for partition in partitions:
        keys.add([], partition)
    return keys


def make_key(keys: SubjectKeys, need: NeedSubjectKey) -> None:
    keys.create(need, lambda error, msg: None)


CODEC = SingleObjectCodec()


def decoded(**overrides: Any) -> dict[str, Any]:
    """An action as the processor sees it: decoded, every field present."""
    from tests.avro_support import action

    return CODEC.decode("AgentAction", CODEC.encode("AgentAction", action(**overrides)))
