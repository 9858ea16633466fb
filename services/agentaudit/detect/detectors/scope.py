"""Actions outside the agent's declared registry scope (CC6.6 least privilege).

The registry's Scope says what an agent may do, and "empty means nothing of
that kind" (registry.model.Scope; `agents register`: "Scope left out allows
nothing of that kind"). So an empty list is not a wildcard: an agent that
declared no tools is out of scope on its first tool call. A kind is judged
only when the action has it: an llm_call with no tool is not a tool breach.

| kind        | the action's value                                   | matched against                 |
|-------------|------------------------------------------------------|---------------------------------|
| action_type | action.action_type                                   | scope.action_types, exactly     |
| tool        | action.tool                                          | scope.tools, fnmatch globs      |
| resource    | action.resource                                      | scope.resource_patterns, globs  |
| data_class  | attributes["agentaudit.data_class"], comma-separated | scope.data_classes, globs       |

Reasons name the action type, tool and data class (names from the agent's
own code), never the resource, which may be a mailbox or a customer's path.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from agentaudit.detect.detectors.base import Detector, Params
from agentaudit.detect.fields import DATA_CLASS_ATTRIBUTE, RecordView
from agentaudit.detect.model import AgentContext, Findings

KINDS = ("action_type", "tool", "resource", "data_class")
_CACHE_LIMIT = 4096


class ScopeDetector(Detector):
    """Stateless; glob lists compile once per distinct scope (cache bounded, cleared when full)."""

    def __init__(self, params: Params) -> None:
        self.kind = params.choice("kind", KINDS)
        params.done()
        self._globs: dict[tuple[str, ...], re.Pattern[str]] = {}

    def _matcher(self, patterns: tuple[str, ...]) -> re.Pattern[str]:
        matcher = self._globs.get(patterns)
        if matcher is None:
            if len(self._globs) >= _CACHE_LIMIT:
                self._globs.clear()
            # (?!) never matches: an empty declaration allows nothing.
            body = "|".join(fnmatch.translate(pattern) for pattern in patterns) or "(?!)"
            matcher = self._globs[patterns] = re.compile(body)
        return matcher

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        action, scope = view.action, ctx.scope
        if self.kind == "action_type":
            if view.action_type in scope.action_types:
                return None
            return f"action type {view.action_type} is not in the agent's declared scope"
        if self.kind == "tool":
            tool = action.get("tool")
            if tool is None or self._matcher(scope.tools).match(tool):
                return None
            return f"tool {tool[:80]!r} matches none of the {len(scope.tools)} tool(s) the agent declared"
        if self.kind == "resource":
            resource = action.get("resource")
            if resource is None or self._matcher(scope.resource_patterns).match(resource):
                return None
            return (f"{view.action_type} resource matches none of the {len(scope.resource_patterns)} "
                    "resource pattern(s) the agent declared")
        declared = action.get("attributes", {}).get(DATA_CLASS_ATTRIBUTE)
        if not declared:
            return None
        matcher = self._matcher(scope.data_classes)
        outside = [name.strip() for name in declared.split(",") if name.strip() and not matcher.match(name.strip())]
        if not outside:
            return None
        return f"data class {', '.join(c[:40] for c in outside)} is not in the agent's declared scope"
