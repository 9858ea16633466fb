"""The integrity stage's findings, as rules: severities in one table that `rules list` shows.

Only sequence_gap reaches the detection stage: a gap is found on an accepted
record and passed in as Findings.sequence_gap. Every other kind is found by
attribution or the session check, whose action is rejected before it is
scored; those raise their incident in agentaudit.process.incidents, and their
rule files here only document the kind and its severity (their detector never
hits, and the rule set does not run it).
"""

from __future__ import annotations

from typing import Any

from agentaudit.detect.detectors.base import Detector, Params
from agentaudit.detect.fields import RecordView
from agentaudit.detect.model import AgentContext, Findings

EVALUATED = ("sequence_gap",)
REJECTED_BEFORE_SCORING = ("bad_signature", "unknown_key", "agent_retired", "agent_suspended", "replayed_event_id",
                           "tenant_mismatch", "unknown_agent", "unsigned", "sequence_regression")


class IntegrityDetector(Detector):
    """Stateless. params: kind, one of EVALUATED or REJECTED_BEFORE_SCORING."""

    def __init__(self, params: Params) -> None:
        self.kind = params.choice("kind", EVALUATED + REJECTED_BEFORE_SCORING)
        params.done()
        self.evaluated = self.kind in EVALUATED

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        if findings.sequence_gap <= 0:
            return None
        return (f"{findings.sequence_gap} action(s) of the session missing before sequence "
                f"{view.action['sequence']}")
