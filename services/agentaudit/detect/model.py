"""What the detection stage is given and what it returns. No I/O.

The processor builds an AgentContext from the registry definition in effect at
the record's ingest time and Findings from the earlier stages, and gets back a
Verdict whose risk_score and rule_hits() go into the AuditRecord.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentaudit.registry.model import Scope


@dataclass(frozen=True)
class AgentContext:
    """The acting agent as the registry knows it at the record's ingest time."""

    agent_id: str
    tenant_id: str
    scope: Scope = field(default_factory=Scope)


@dataclass(frozen=True)
class Findings:
    """What earlier stages found about an accepted record.

    sequence_gap: how many sequence numbers of the session were skipped just
    before this record (SessionStatus gap), 0 when none were.
    """

    sequence_gap: int = 0


NO_FINDINGS = Findings()


@dataclass(frozen=True)
class Hit:
    """One rule that matched a record, with why, in words safe to store and page with.

    A reason names kinds, counts and identifiers, never a parameter value.
    """

    rule_id: str
    title: str
    severity: str
    reason: str
    score: int
    contain: bool
    group_window_us: int

    def as_rule_hit(self) -> dict[str, Any]:
        """The AuditRecord v2 RuleHit shape."""
        return {"rule_id": self.rule_id, "severity": self.severity, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    """A record's risk (0 to 100, 0 without hits) and the hits that made it, in rule id order."""

    risk_score: int
    hits: tuple[Hit, ...]

    def rule_hits(self) -> list[dict[str, Any]]:
        return [hit.as_rule_hit() for hit in self.hits]


def combine_scores(scores: list[int]) -> int:
    """The record's risk from its hits' scores: the highest, plus half the next, a quarter the third, ...

    The worst finding alone decides whether the record is risky: a single
    critical hit must reach the incident threshold without help. Further hits
    are corroboration (a new tool, off hours and clock skew together say more
    than any one of them) but are partly redundant, so each counts half as
    much as the one before; capped at 100. Integers only, so a replay computes
    exactly the same score.
    """
    ordered = sorted(scores, reverse=True)
    total = sum(score >> rank for rank, score in enumerate(ordered))
    return min(100, total)
