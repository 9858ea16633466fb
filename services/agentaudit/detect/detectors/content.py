"""Personal data, secrets and prompt-injection phrases in what an action carries.

Scans action.parameters and the attribute values with agentaudit.detect.scan
(each text once per record, shared by every rule that scans it) and hits when
one of the rule's kinds is found. The reason names the kinds and where they
were found, never the text.
"""

from __future__ import annotations

from typing import Any

from agentaudit.detect.detectors.base import ACTION_TYPES, Detector, Params
from agentaudit.detect.errors import RuleError
from agentaudit.detect.fields import RecordView
from agentaudit.detect.model import AgentContext, Findings
from agentaudit.detect.scan import ALL_KINDS

FIELDS = ("parameters", "attributes")


class ContentDetector(Detector):
    """Stateless. params: kinds (from scan.ALL_KINDS), fields (parameters, attributes), action_types."""

    def __init__(self, params: Params) -> None:
        self.kinds = frozenset(params.strings("kinds", (), ALL_KINDS))
        if not self.kinds:
            raise RuleError(f"{params.where}.kinds", f"name at least one of {', '.join(ALL_KINDS)}")
        fields = params.strings("fields", FIELDS, FIELDS)
        self.scan_parameters, self.scan_attributes = "parameters" in fields, "attributes" in fields
        types = params.strings("action_types", ACTION_TYPES, ACTION_TYPES)
        self.action_types = frozenset(types) if len(types) < len(ACTION_TYPES) else None
        params.done()

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        places = []
        if self.scan_parameters and view.action.get("parameters"):
            found = self.kinds & view.parameter_kinds()
            if found:
                places.append(f"parameters hold {', '.join(sorted(found))}")
        if self.scan_attributes and view.action.get("attributes"):
            found = self.kinds & view.attribute_kinds()
            if found:
                places.append(f"attributes hold {', '.join(sorted(found))}")
        return "; ".join(places) or None
