"""A rule's examples, Panther-style: records that must hit it and records that must not.

Each example is a partial AuditRecord; what it leaves out is filled with a
realistic default (a signed, successful tool_call of agent example-agent in
tenant example-tenant, ingested Tuesday 2026-10-06 10:00 UTC). Keys:

    action: {...}              # AgentAction fields; nested records (policy, approval,
                               # usage, model, principal, error) are filled in too
    ingest_time: 2026-10-06T23:30:00Z   # or microseconds
    clock_skew_ms: 45000       # agent_time follows it
    attribution: {...}
    agent: {agent_id: ..., tenant_id: ..., scope: {action_types: [...], tools: [...],
            resource_patterns: [...], data_classes: [...]}}   # default: everything in scope
    findings: {sequence_gap: 2}
    history:                   # earlier records of the same agent, oldest first, for stateful rules
      - {at: -10m, repeat: 30, every: 10s, action: {...}}      # at: before the example's time
    note: why this example is here

Examples run against their rule alone, with fresh state, under the rule set's
DetectConfig (tenant example-tenant gets the defaults unless the config names it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agentaudit.detect.errors import RuleError
from agentaudit.detect.model import AgentContext, Findings
from agentaudit.detect.units import duration_us
from agentaudit.registry.model import Scope

EXAMPLE_TIME_US = 1_791_280_800_000_000  # Tuesday 2026-10-06 10:00:00 UTC
ALL_ACTION_TYPES = ("llm_call", "tool_call", "data_read", "data_write", "external_message", "policy_decision",
                    "approval", "agent_change", "other")
_NESTED: dict[str, dict[str, Any]] = {
    "principal": {"type": "user", "id": "example-user"},
    "error": {"code": "failed", "message": "the tool failed"},
    "policy": {"decision": "allow", "policy_id": "example-policy", "policy_version": "1", "reason": None},
    "approval": {"approver": {"type": "user", "id": "example-approver"}, "decision": "approved",
                 "decided_at": EXAMPLE_TIME_US, "approval_id": None},
    "model": {"provider": "anthropic", "name": "claude-sonnet-4", "version": None},
    "usage": {"input_tokens": 0, "output_tokens": 0, "cost_micros": 0, "currency": "USD"},
}
_ACTION_KEYS = ("event_id", "agent_id", "session_id", "sequence", "tenant_id", "principal", "action_type", "tool",
                "resource", "parameters", "outcome", "error", "policy", "approval", "model", "usage", "agent_time",
                "correlation_id", "parent_event_id", "attributes", "key_id", "signature")
_RECORD_KEYS = ("action", "ingest_time", "clock_skew_ms", "attribution")
_EXAMPLE_KEYS = (*_RECORD_KEYS, "agent", "findings", "history", "note")
_HISTORY_KEYS = (*_RECORD_KEYS, "at", "repeat", "every", "note")
_SCOPE_KEYS = ("action_types", "tools", "resource_patterns", "data_classes")


@dataclass(frozen=True)
class Example:
    """One example, ready to run: the agent, earlier records, the record, and what must happen."""

    kind: str  # match | no_match
    index: int
    ctx: AgentContext
    history: tuple[dict[str, Any], ...]
    record: dict[str, Any]
    findings: Findings
    note: str


@dataclass(frozen=True)
class ExampleResult:
    """The outcome of one example; detail says what went wrong, or the reason of the hit."""

    rule_id: str
    kind: str
    index: int
    passed: bool
    detail: str


def load_examples(raw: object, where: str, documentation_only: bool) -> tuple[Example, ...]:
    """Every example of a rule; a rule that scores needs at least one of each kind."""
    if not isinstance(raw, dict) or not set(raw) <= {"match", "no_match"}:
        raise RuleError(where, "examples is a mapping with the lists match and no_match")
    examples: list[Example] = []
    for kind in ("match", "no_match"):
        items = raw.get(kind, [])
        if not isinstance(items, list):
            raise RuleError(f"{where}.{kind}", "expected a list of examples")
        if not items and not (documentation_only and kind == "match"):
            raise RuleError(f"{where}.{kind}", "at least one example is required")
        if items and documentation_only and kind == "match":
            raise RuleError(f"{where}.match", "this finding is made before scoring: the rule can never match")
        examples += [_example(item, kind, index, f"{where}.{kind}[{index}]") for index, item in enumerate(items)]
    return tuple(examples)


def _example(raw: object, kind: str, index: int, where: str) -> Example:
    data = _keys(raw, _EXAMPLE_KEYS, where)
    ctx = _agent(data.get("agent", {}), f"{where}.agent")
    at = _time(data.get("ingest_time", EXAMPLE_TIME_US), f"{where}.ingest_time")
    history: list[dict[str, Any]] = []
    history_raw = data.get("history", [])
    if not isinstance(history_raw, list):
        raise RuleError(f"{where}.history", "expected a list of partial records")
    for position, item in enumerate(history_raw):
        history += _history(item, ctx, at, len(history), f"{where}.history[{position}]")
    record = build_record(data, ctx, at, len(history), where)
    findings = _keys(data.get("findings", {}), ("sequence_gap",), f"{where}.findings")
    gap = findings.get("sequence_gap", 0)
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 0:
        raise RuleError(f"{where}.findings.sequence_gap", "expected a count >= 0")
    return Example(kind, index, ctx, tuple(history), record, Findings(sequence_gap=gap), str(data.get("note", "")))


def _history(raw: object, ctx: AgentContext, example_us: int, position: int, where: str) -> list[dict[str, Any]]:
    data = _keys(raw, _HISTORY_KEYS, where)
    if "ingest_time" in data:
        start = _time(data["ingest_time"], f"{where}.ingest_time")
    else:
        start = example_us + _offset(data.get("at", "-1s"), f"{where}.at")
    repeat = data.get("repeat", 1)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= 10_000:
        raise RuleError(f"{where}.repeat", "expected a count from 1 to 10000")
    every = duration_us(data.get("every", "1s"), f"{where}.every")
    return [build_record(data, ctx, start + n * every, position + n, where) for n in range(repeat)]


def build_record(partial: dict[str, Any], ctx: AgentContext, at_us: int, n: int, where: str) -> dict[str, Any]:
    """A full AuditRecord dict (as the processor holds it) from a partial one; n numbers it in its example."""
    skew = partial.get("clock_skew_ms", 0)
    if isinstance(skew, bool) or not isinstance(skew, int):
        raise RuleError(f"{where}.clock_skew_ms", "expected milliseconds as an integer")
    action: dict[str, Any] = {
        "event_id": f"00000000-0000-7000-8000-{n:012d}", "agent_id": ctx.agent_id, "session_id": "example-session",
        "sequence": n + 1, "tenant_id": ctx.tenant_id, "principal": dict(_NESTED["principal"]),
        "action_type": "tool_call", "tool": None, "resource": None, "parameters": None, "outcome": "success",
        "error": None, "policy": None, "approval": None, "model": None, "usage": None,
        "agent_time": at_us + skew * 1000, "correlation_id": None, "parent_event_id": None, "attributes": {},
        "key_id": "example-key", "signature": b"\x00" * 64,
    }
    for key, value in _keys(partial.get("action", {}), _ACTION_KEYS, f"{where}.action").items():
        if key in _NESTED and isinstance(value, dict):
            nested = {**_NESTED[key], **_keys(value, tuple(_NESTED[key]), f"{where}.action.{key}")}
            if key == "approval" and isinstance(nested["approver"], dict):
                nested["approver"] = {**_NESTED["principal"], **nested["approver"]}
            value = nested
        action[key] = value
    attribution = {"agent_version": 1, "key_id": "example-key", "algorithm": "ed25519",
                   **_keys(partial.get("attribution", {}), ("agent_version", "key_id", "algorithm"),
                           f"{where}.attribution")}
    return {"action": action, "ingest_time": at_us, "source": {"topic": "agent.actions", "partition": 0, "offset": n},
            "clock_skew_ms": skew, "attribution": attribution, "risk_score": None, "rule_hits": [], "chain": None}


def _agent(raw: object, where: str) -> AgentContext:
    data = _keys(raw, ("agent_id", "tenant_id", "scope"), where)
    scope_raw = _keys(data.get("scope", {}), _SCOPE_KEYS, f"{where}.scope")
    lists: dict[str, tuple[str, ...]] = {}
    for key in _SCOPE_KEYS:
        value = scope_raw.get(key, list(ALL_ACTION_TYPES) if key == "action_types" else ["*"])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise RuleError(f"{where}.scope.{key}", "expected a list of strings")
        lists[key] = tuple(value)
    return AgentContext(str(data.get("agent_id", "example-agent")), str(data.get("tenant_id", "example-tenant")),
                        Scope(**lists))


def _keys(raw: object, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise RuleError(where, f"expected a mapping, got {type(raw).__name__}")
    unknown = sorted(str(key) for key in raw if key not in allowed)
    if unknown:
        raise RuleError(f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(allowed)}")
    return raw


def _time(value: object, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, datetime):  # YAML reads an unquoted ISO timestamp as a datetime
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise RuleError(where, f"expected an ISO time with its offset, got {value!r}") from exc
    else:
        raise RuleError(where, f"expected an ISO time or microseconds, got {value!r}")
    if moment.tzinfo is None:
        raise RuleError(where, "the time needs an offset, e.g. 2026-10-06T23:30:00Z")
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _offset(value: object, where: str) -> int:
    if not isinstance(value, str) or not value.startswith("-"):
        raise RuleError(where, f"expected a negative offset like -10m, got {value!r}")
    return -duration_us(value[1:], where)
