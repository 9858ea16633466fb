"""What a built-in detector is, and how its parameters are read from a rule file."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from agentaudit.detect.config import DetectConfig
from agentaudit.detect.errors import RuleError
from agentaudit.detect.fields import RecordView
from agentaudit.detect.model import AgentContext, Findings
from agentaudit.detect.units import duration_us

ACTION_TYPES = ("llm_call", "tool_call", "data_read", "data_write", "external_message", "policy_decision",
                "approval", "agent_change", "other")
EXECUTED_TYPES = frozenset({"tool_call", "data_read", "data_write", "external_message"})
"""Action types that act on the world; a decision or approval only gates them."""


class Detector:
    """A check that a declarative condition cannot express, usually because it needs memory.

    check() returns the reason for a hit, or None. A stateful detector keeps
    its memory in `slot`, a JSON-able dict private to its rule in the agent's
    DetectState, and must keep it bounded (see each detector's docstring);
    stateless ones ignore it. check() reads time only from view.time_us.
    action_types, when set, are the only action types the detector needs to
    see: the rule set skips it for others, which must then leave its state alone.
    """

    stateful = False
    action_types: frozenset[str] | None = None

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        raise NotImplementedError


class Params:
    """A rule's `params:`; every read is validated, and unread keys are an error in done()."""

    def __init__(self, raw: object, where: str, config: DetectConfig) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise RuleError(where, "params must be a mapping")
        self.raw: Mapping[str, Any] = raw
        self.where = where
        self.config = config
        self._read: set[str] = set()

    def _get(self, name: str, default: Any) -> Any:
        self._read.add(name)
        return self.raw.get(name, default)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise RuleError(f"{self.where}.{name}", f"expected an integer from {low} to {high}, got {value!r}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self._get(name, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise RuleError(f"{self.where}.{name}", f"expected a number from {low} to {high}, got {value!r}")
        return float(value)

    def duration(self, name: str, default: str) -> int:
        return duration_us(self._get(name, default), f"{self.where}.{name}")

    def strings(self, name: str, default: tuple[str, ...], allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
        value = self._get(name, list(default))
        where = f"{self.where}.{name}"
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise RuleError(where, f"expected a list of strings, got {value!r}")
        if allowed is not None:
            unknown = [item for item in value if item not in allowed]
            if unknown:
                raise RuleError(where, f"unknown value {unknown[0]!r}; allowed: {', '.join(allowed)}")
        return tuple(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self._get(name, None)
        if value not in allowed:
            raise RuleError(f"{self.where}.{name}", f"required, one of {', '.join(allowed)}; got {value!r}")
        return str(value)

    def done(self) -> None:
        unknown = sorted(str(key) for key in self.raw if key not in self._read)
        if unknown:
            raise RuleError(f"{self.where}.{unknown[0]}", "unknown parameter for this detector")


def digest(text: str) -> str:
    """A short stable fingerprint, so state stays small whatever an agent puts in ids and names."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
