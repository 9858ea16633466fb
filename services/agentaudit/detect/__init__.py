"""Detection rules as code: every accepted record scored against YAML rules (issue 4).

    from agentaudit.detect import RuleSet, AgentContext, Findings, DetectState
    rules = RuleSet.load()                       # the packaged rules, default DetectConfig
    verdict = rules.evaluate(record, AgentContext(agent_id, tenant_id, scope), state, Findings(sequence_gap=0))
    record["risk_score"], record["rule_hits"] = verdict.risk_score, verdict.rule_hits()

Modules: rule (a rule file), condition (Sigma-like conditions), detectors
(stateful built-ins), scan (PII, secrets, injection), fields (record paths),
examples (Panther-style tests), config (DetectConfig), state (DetectState),
ruleset (RuleSet.evaluate), cli (`agentaudit rules list|test`).
"""

from agentaudit.detect.config import Budget, DetectConfig, TenantPolicy
from agentaudit.detect.errors import RuleError
from agentaudit.detect.examples import ExampleResult
from agentaudit.detect.model import AgentContext, Findings, Hit, Verdict
from agentaudit.detect.rule import Rule
from agentaudit.detect.ruleset import RuleSet, packaged_rules
from agentaudit.detect.state import MAX_STATE_BYTES, DetectState

__all__ = [
    "AgentContext", "Budget", "DetectConfig", "DetectState", "ExampleResult", "Findings", "Hit", "MAX_STATE_BYTES",
    "Rule", "RuleError", "RuleSet", "TenantPolicy", "Verdict", "packaged_rules",
]
