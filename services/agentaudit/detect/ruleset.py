"""The loaded rules, and the one call the processor makes per record: evaluate().

Determinism (invariant 4): evaluate() reads no clock and draws no randomness;
time comes only from record["ingest_time"]. Rules run in id order and hits
come out in that order, so identical record, context, state and findings give
an identical Verdict and leave an identical state, and a replay after a crash
scores byte for byte as the first run did.

Speed: conditions are closures compiled at load; every field any rule reads
is extracted once per record into a RecordView; the content scan runs at most
once per text; rules that look at a few action types only are not called for
the others (a per-action-type dispatch table built at load).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agentaudit.detect.config import DetectConfig
from agentaudit.detect.errors import RuleError
from agentaudit.detect.examples import ALL_ACTION_TYPES, Example, ExampleResult
from agentaudit.detect.fields import Getter, RecordView, getter
from agentaudit.detect.model import NO_FINDINGS, AgentContext, Findings, Hit, Verdict, combine_scores
from agentaudit.severity import SEVERITY_RANK
from agentaudit.detect.rule import Rule, load_rule
from agentaudit.detect.state import DetectState


def packaged_rules() -> Path:
    """The rules shipped inside the package (agentaudit/detect/rules)."""
    return Path(str(importlib.resources.files("agentaudit.detect") / "rules"))


class RuleSet:
    """Every enabled rule, compiled; evaluates records and runs the rules' examples."""

    def __init__(self, rules: tuple[Rule, ...], config: DetectConfig) -> None:
        self.rules = rules
        self.config = config
        scoring = tuple(rule for rule in rules if not rule.documentation_only)
        paths = sorted({path for rule in scoring for path in rule.paths})
        self._getters: tuple[tuple[str, Getter], ...] = tuple((path, getter(path)) for path in paths)
        self._all = scoring
        self._by_type: Mapping[str, tuple[Rule, ...]] = {
            action_type: tuple(rule for rule in scoring if rule.applies_to(action_type))
            for action_type in ALL_ACTION_TYPES
        }

    @classmethod
    def load(cls, directory: Path | None = None, config: DetectConfig | None = None) -> RuleSet:
        """Every *.yaml rule in directory (default: the packaged rules), minus those the config disables."""
        config = config or DetectConfig()
        directory = directory or packaged_rules()
        files = sorted(directory.glob("*.yaml"))
        if not files:
            raise RuleError(str(directory), "no rule files (*.yaml) found")
        rules = [load_rule(path, config) for path in files]
        seen: dict[str, Path] = {}
        for rule in rules:
            if rule.id in seen:
                raise RuleError(str(rule.path), f"rule id {rule.id} is also defined in {seen[rule.id]}")
            seen[rule.id] = rule.path
        unknown = sorted(config.disabled_rules - set(seen))
        if unknown:
            raise RuleError("detect config: disabled_rules", f"no such rule: {unknown[0]}")
        enabled = sorted((rule for rule in rules if rule.id not in config.disabled_rules), key=lambda rule: rule.id)
        return cls(tuple(enabled), config)

    def evaluate(self, record: Mapping[str, Any], ctx: AgentContext, state: DetectState,
                 findings: Findings = NO_FINDINGS) -> Verdict:
        """Score one accepted record of ctx's agent; updates that agent's state in place."""
        view = RecordView(record, self._getters)
        hits: list[Hit] = []
        for rule in self._by_type.get(view.action_type, self._all):
            reason = rule.check(view, ctx, state, findings)
            if reason is not None:
                hits.append(rule.hit(reason))
        return Verdict(combine_scores([hit.score for hit in hits]), tuple(hits))

    def incident_threshold(self, tenant_id: str) -> int:
        """The minimum risk score at which a hit opens or updates an incident for this tenant."""
        return self.config.tenant(tenant_id).incident_threshold

    def min_severity(self, tenant_id: str) -> str:
        """The minimum severity of a hit that opens or updates an incident for this tenant."""
        return self.config.tenant(tenant_id).min_severity

    def incident_hits(self, verdict: Verdict, tenant_id: str) -> tuple[Hit, ...]:
        """The hits of verdict that open or update incidents: the record reaches the tenant's
        threshold and the hit has at least its minimum severity."""
        if verdict.risk_score < self.incident_threshold(tenant_id):
            return ()
        floor = SEVERITY_RANK[self.min_severity(tenant_id)]
        return tuple(hit for hit in verdict.hits if SEVERITY_RANK[hit.severity] >= floor)

    def test(self) -> list[ExampleResult]:
        """Run every rule's examples, each against its rule alone with fresh state."""
        return [self._run_example(rule, example) for rule in self.rules for example in rule.examples]

    def _run_example(self, rule: Rule, example: Example) -> ExampleResult:
        state = DetectState()
        getters = tuple((path, getter(path)) for path in sorted(rule.paths))

        def check(record: Mapping[str, Any], findings: Findings) -> str | None:
            view = RecordView(record, getters)
            return rule.check(view, example.ctx, state, findings) if rule.applies_to(view.action_type) else None

        try:
            for earlier in example.history:
                check(earlier, NO_FINDINGS)
            reason = check(example.record, example.findings)
        except Exception as exc:  # an example that crashes its rule is a failed example, reported, not raised
            return ExampleResult(rule.id, example.kind, example.index, False, f"raised {exc!r}")
        label = f" ({example.note})" if example.note else ""
        if example.kind == "match":
            if reason is None:
                return ExampleResult(rule.id, example.kind, example.index, False, f"expected a hit, got none{label}")
            return ExampleResult(rule.id, example.kind, example.index, True, reason)
        if reason is not None:
            return ExampleResult(rule.id, example.kind, example.index, False, f"unexpected hit: {reason}{label}")
        return ExampleResult(rule.id, example.kind, example.index, True, "no hit")
