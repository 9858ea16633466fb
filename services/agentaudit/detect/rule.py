"""One detection rule, loaded and checked from its YAML file.

A rule file holds exactly one rule and is named after its id
(`scope.tool_out_of_scope.yaml`)::

    id: integrity.clock_skew          # dotted, lowercase: area.name
    title: Agent clock far from the pipeline clock
    severity: low                     # info | low | medium | high | critical
    description: >                    # what it finds and why it matters
      ...
    score: 20                         # risk points 0-100 this hit contributes
    contain: false                    # a critical incident from this rule suspends the agent
    group_window: 1h                  # repeat hits within this long join the same incident
    condition: {selections: ..., match: ...}    # see agentaudit.detect.condition
    reason: "agent clock {clock_skew_ms} ms off"  # with condition: fields in {braces}
    # or, instead of condition and reason:
    detector: deny_burst              # a built-in (agentaudit.detect.detectors)
    params: {count: 10, within: 1m}
    examples:                         # see agentaudit.detect.examples
      match: [...]
      no_match: [...]

Anything else -- an unknown key, a missing one, a wrong type -- is a RuleError
naming the file and the key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from agentaudit.detect.condition import Predicate, compile_condition
from agentaudit.detect.config import DetectConfig
from agentaudit.detect.detectors import DETECTORS, Detector, Params
from agentaudit.detect.detectors.integrity import IntegrityDetector
from agentaudit.detect.errors import RuleError
from agentaudit.detect.examples import Example, load_examples
from agentaudit.detect.fields import RecordView, field_type, is_sensitive
from agentaudit.detect.model import AgentContext, Findings, Hit
from agentaudit.severity import SEVERITIES
from agentaudit.detect.state import DetectState
from agentaudit.detect.units import duration_us

RULE_ID = re.compile(r"^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+$")
_REQUIRED = ("id", "title", "severity", "description", "score", "examples")
_OPTIONAL = ("contain", "group_window", "condition", "reason", "detector", "params")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_NO_SLOT: dict[str, Any] = {}  # what stateless rules get; they never write to it


@dataclass(frozen=True, eq=False)
class Rule:
    """A loaded rule: its metadata, its compiled check and its examples."""

    id: str
    title: str
    severity: str
    description: str
    score: int
    contain: bool
    group_window_us: int
    path: Path
    examples: tuple[Example, ...]
    detector: Detector | None
    predicate: Predicate | None
    reason_parts: tuple[tuple[bool, str], ...]  # (is_field, text)
    paths: frozenset[str]

    @property
    def documentation_only(self) -> bool:
        """True for a rule whose finding is made before scoring (see detectors.integrity)."""
        return isinstance(self.detector, IntegrityDetector) and not self.detector.evaluated

    def applies_to(self, action_type: str) -> bool:
        types = self.detector.action_types if self.detector is not None else None
        return types is None or action_type in types

    def check(self, view: RecordView, ctx: AgentContext, state: DetectState, findings: Findings) -> str | None:
        """The reason this record hits the rule, or None; a stateful rule updates its slot."""
        if self.detector is not None:
            slot = state.slot(self.id) if self.detector.stateful else _NO_SLOT
            return self.detector.check(view, ctx, slot, findings)
        assert self.predicate is not None
        if not self.predicate(view):
            return None
        return "".join(_render(view.values[text]) if is_field else text for is_field, text in self.reason_parts)

    def hit(self, reason: str) -> Hit:
        return Hit(self.id, self.title, self.severity, reason, self.score, self.contain, self.group_window_us)


def _render(value: object) -> str:
    return "null" if value is None else str(value)


def load_rule(path: Path, config: DetectConfig) -> Rule:
    """The rule in one YAML file; RuleError on anything wrong with it."""
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RuleError(where, f"cannot read the rule: {exc}") from exc
    if not isinstance(raw, dict):
        raise RuleError(where, "a rule file holds one mapping")
    unknown = sorted(str(key) for key in raw if key not in _REQUIRED + _OPTIONAL)
    if unknown:
        raise RuleError(f"{where}: {unknown[0]}", f"unknown key; allowed: {', '.join(_REQUIRED + _OPTIONAL)}")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise RuleError(f"{where}: {missing[0]}", "required key is missing")
    rule_id = _text(raw, "id", where)
    if not RULE_ID.match(rule_id):
        raise RuleError(f"{where}: id", f"{rule_id!r} is not a dotted lowercase id like scope.tool_out_of_scope")
    if path.stem != rule_id:
        raise RuleError(f"{where}: id", f"the file must be named after its id: {rule_id}.yaml")
    severity = _text(raw, "severity", where)
    if severity not in SEVERITIES:
        raise RuleError(f"{where}: severity", f"expected one of {', '.join(SEVERITIES)}, got {severity!r}")
    score = raw["score"]
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise RuleError(f"{where}: score", f"expected an integer from 0 to 100, got {score!r}")
    contain = raw.get("contain", False)
    if not isinstance(contain, bool):
        raise RuleError(f"{where}: contain", "expected true or false")
    window = duration_us(raw.get("group_window", "1h"), f"{where}: group_window")
    detector, predicate, reason_parts, paths = _check_of(raw, where, config)
    rule = Rule(rule_id, _text(raw, "title", where), severity, _text(raw, "description", where), score, contain,
                window, path, (), detector, predicate, reason_parts, frozenset(paths))
    examples = load_examples(raw["examples"], f"{where}: examples", documentation_only=rule.documentation_only)
    return replace(rule, examples=examples)


def _check_of(raw: dict[str, Any], where: str, config: DetectConfig
              ) -> tuple[Detector | None, Predicate | None, tuple[tuple[bool, str], ...], set[str]]:
    has_condition, has_detector = "condition" in raw, "detector" in raw
    if has_condition == has_detector:
        raise RuleError(where, "a rule has either a condition (with a reason) or a detector (with params)")
    paths: set[str] = set()
    if has_detector:
        for key in ("reason", "condition"):
            if key in raw:
                raise RuleError(f"{where}: {key}", "a detector rule takes no reason: the detector gives it")
        name = raw["detector"]
        if name not in DETECTORS:
            raise RuleError(f"{where}: detector", f"unknown detector {name!r}; built-ins: {', '.join(DETECTORS)}")
        return DETECTORS[name](Params(raw.get("params"), f"{where}: params", config)), None, (), paths
    if "params" in raw:
        raise RuleError(f"{where}: params", "params belong to detector rules")
    predicate = compile_condition(raw["condition"], f"{where}: condition", paths)
    if "reason" not in raw:
        raise RuleError(f"{where}: reason", "a condition rule needs a reason (fields in {braces})")
    return None, predicate, _reason_parts(_text(raw, "reason", where), f"{where}: reason", paths), paths


def _reason_parts(template: str, where: str, paths: set[str]) -> tuple[tuple[bool, str], ...]:
    parts: list[tuple[bool, str]] = []
    at = 0
    for match in _PLACEHOLDER.finditer(template):
        path = match.group(1)
        if field_type(path) is None:
            raise RuleError(where, f"unknown field {{{path}}} in the reason")
        if is_sensitive(path):
            raise RuleError(where, f"{{{path}}} may hold personal data or secrets and cannot appear in a reason")
        parts += [(False, template[at:match.start()]), (True, path)]
        paths.add(path)
        at = match.end()
    parts.append((False, template[at:]))
    return tuple(part for part in parts if part[1])


def _text(raw: dict[str, Any], key: str, where: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value.strip():
        raise RuleError(f"{where}: {key}", "expected a non-empty string")
    return value.strip()
