"""Stateful and special-purpose checks a rule names with `detector:`, and their parameters.

| detector   | module      | what it finds                                                  |
|------------|-------------|----------------------------------------------------------------|
| scope      | scope       | action type, tool, resource or data class outside the registry scope |
| gate       | policy      | an executed action a remembered deny or unapproved gate forbade |
| deny_burst | policy      | N denials within T                                             |
| off_hours  | calendar    | customer data touched outside the tenant's business hours      |
| budget     | calendar    | daily token or cost budget exceeded                            |
| content    | content     | PII, secrets or injection phrases in parameters and attributes |
| novelty    | behaviour   | first use of a tool or resource family                         |
| rate       | behaviour   | actions per window far above the agent's own baseline          |
| integrity  | integrity   | the integrity stage's findings                                 |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from agentaudit.detect.detectors.base import Detector, Params
from agentaudit.detect.detectors.behaviour import NoveltyDetector, RateDetector
from agentaudit.detect.detectors.calendar import BudgetDetector, OffHoursDetector
from agentaudit.detect.detectors.content import ContentDetector
from agentaudit.detect.detectors.integrity import IntegrityDetector
from agentaudit.detect.detectors.policy import DenyBurstDetector, GateDetector
from agentaudit.detect.detectors.scope import ScopeDetector

DETECTORS: Mapping[str, Callable[[Params], Detector]] = {
    "scope": ScopeDetector, "gate": GateDetector, "deny_burst": DenyBurstDetector, "off_hours": OffHoursDetector,
    "budget": BudgetDetector, "content": ContentDetector, "novelty": NoveltyDetector, "rate": RateDetector,
    "integrity": IntegrityDetector,
}

__all__ = ["DETECTORS", "Detector", "Params"]
