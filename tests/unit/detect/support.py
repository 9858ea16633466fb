"""Records, contexts and rule files for the detection tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentaudit.detect import AgentContext, DetectConfig, RuleSet
from agentaudit.detect.examples import EXAMPLE_TIME_US, build_record
from agentaudit.registry.model import Scope

MINUTE_US = 60_000_000
BROAD = Scope(action_types=("llm_call", "tool_call", "data_read", "data_write", "external_message",
                            "policy_decision", "approval"), tools=("*",), resource_patterns=("*",),
              data_classes=("*",))


def ctx(tenant: str = "acme", agent: str = "agent-1", scope: Scope = BROAD) -> AgentContext:
    return AgentContext(agent, tenant, scope)


def record(n: int = 0, at_us: int = EXAMPLE_TIME_US, skew_ms: int = 0, tenant: str = "acme",
           agent: str = "agent-1", **action: Any) -> dict[str, Any]:
    """A full AuditRecord dict; action fields as keyword arguments (nested records filled in)."""
    return build_record({"action": action, "clock_skew_ms": skew_ms}, ctx(tenant, agent), at_us, n, "test")


def only(rule_id: str, config: DetectConfig | None = None) -> RuleSet:
    """The packaged rule set reduced to one rule."""
    full = RuleSet.load(config=config)
    return RuleSet(tuple(rule for rule in full.rules if rule.id == rule_id), full.config)


def write_rule(directory: Path, rule_id: str, body: str) -> Path:
    path = directory / f"{rule_id}.yaml"
    path.write_text(f"id: {rule_id}\n{body}", encoding="utf-8")
    return path


MINIMAL = """title: Clock skew
severity: low
score: 20
description: test rule
condition:
  selections:
    ahead: {clock_skew_ms|gt: 1000}
  match: ahead
reason: "skew {clock_skew_ms}"
examples:
  match: [{clock_skew_ms: 5000}]
  no_match: [{clock_skew_ms: 0}]
"""
