"""Record field paths a rule may name, and the per-record view rules read.

Paths are dotted names into the AuditRecord dict as the processor holds it
(fastavro shapes: enums as str, timestamps as int microseconds), e.g.
`action.policy.decision` or `clock_skew_ms`; an attribute is
`action.attributes.<key>`, the key taken whole even when it has dots. A path
outside this list is a RuleError at load, so a misspelt field can never make a
rule silently match nothing.

The view extracts once per record every path any loaded rule uses, so rules
read a dict instead of walking the record again, and memoises the content scan
shared by the PII, secret and injection rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentaudit.detect.scan import scan

STR, INT, MAP = "str", "int", "map"

FIELD_TYPES: Mapping[str, str] = {
    "action.event_id": STR, "action.agent_id": STR, "action.session_id": STR, "action.sequence": INT,
    "action.tenant_id": STR, "action.principal.type": STR, "action.principal.id": STR,
    "action.action_type": STR, "action.tool": STR, "action.resource": STR, "action.parameters": STR,
    "action.outcome": STR, "action.error.code": STR, "action.error.message": STR,
    "action.policy.decision": STR, "action.policy.policy_id": STR, "action.policy.policy_version": STR,
    "action.policy.reason": STR, "action.approval.approver.type": STR, "action.approval.approver.id": STR,
    "action.approval.decision": STR, "action.approval.decided_at": INT, "action.approval.approval_id": STR,
    "action.model.provider": STR, "action.model.name": STR, "action.model.version": STR,
    "action.usage.input_tokens": INT, "action.usage.output_tokens": INT, "action.usage.cost_micros": INT,
    "action.usage.currency": STR, "action.agent_time": INT, "action.correlation_id": STR,
    "action.parent_event_id": STR, "action.attributes": MAP, "action.key_id": STR,
    "ingest_time": INT, "source.topic": STR, "source.partition": INT, "source.offset": INT, "clock_skew_ms": INT,
    "attribution.agent_version": INT, "attribution.key_id": STR, "attribution.algorithm": STR,
}
ATTRIBUTES = "action.attributes"
DATA_CLASS_ATTRIBUTE = "agentaudit.data_class"

# Free text an agent controls, or that may hold personal data: never quoted in a reason.
SENSITIVE = ("action.parameters", "action.attributes", "action.resource", "action.error.message",
             "action.policy.reason", "action.principal.id", "action.approval.approver.id")

Getter = Callable[[Mapping[str, Any]], Any]


def field_type(path: str) -> str | None:
    """The type of a known path (attribute keys are strings), None if the path is unknown."""
    if path.startswith(ATTRIBUTES + "."):
        return STR if len(path) > len(ATTRIBUTES) + 1 else None
    return FIELD_TYPES.get(path)


def getter(path: str) -> Getter:
    """A function reading path from a record; a missing or null step reads as None."""
    if path.startswith(ATTRIBUTES + "."):
        key = path[len(ATTRIBUTES) + 1:]
        return lambda record: record["action"].get("attributes", {}).get(key)
    parts = path.split(".")
    if len(parts) == 1:
        name = parts[0]
        return lambda record: record.get(name)
    if len(parts) == 2:
        outer, inner = parts
        return lambda record: (record.get(outer) or {}).get(inner)

    def walk(record: Mapping[str, Any]) -> Any:
        value: Any = record
        for part in parts:
            if value is None:
                return None
            value = value.get(part)
        return value

    return walk


def is_sensitive(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + ".") for prefix in SENSITIVE)


class RecordView:
    """One record as the rules read it: extracted fields, the action, and memoised scans."""

    __slots__ = ("record", "action", "values", "action_type", "time_us", "_parameter_kinds", "_attribute_kinds")

    def __init__(self, record: Mapping[str, Any], getters: tuple[tuple[str, Getter], ...]) -> None:
        self.record = record
        self.action: Mapping[str, Any] = record["action"]
        self.action_type: str = self.action["action_type"]
        self.time_us: int = record["ingest_time"]
        self.values = {path: get(record) for path, get in getters}
        self._parameter_kinds: frozenset[str] | None = None
        self._attribute_kinds: frozenset[str] | None = None

    def parameter_kinds(self) -> frozenset[str]:
        """Kinds of sensitive content and injection found in the parameters (scanned once)."""
        if self._parameter_kinds is None:
            parameters = self.action.get("parameters")
            self._parameter_kinds = scan(parameters) if parameters else frozenset()
        return self._parameter_kinds

    def attribute_kinds(self) -> frozenset[str]:
        """The same for the attribute values, scanned as one text."""
        if self._attribute_kinds is None:
            attributes = self.action.get("attributes")
            self._attribute_kinds = scan("\n".join(attributes.values())) if attributes else frozenset()
        return self._attribute_kinds
