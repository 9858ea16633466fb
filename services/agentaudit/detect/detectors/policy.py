"""Policy decisions that were not honoured, and bursts of denials.

GateDetector remembers, per agent, recent policy_decision actions ("gates")
and the approvals that answered them, and flags an executed action (tool_call,
data_read, data_write, external_message with outcome success) that a
remembered gate forbade: a deny, or a require_approval that no approved
approval followed.

Linking, first that applies:
- the action's correlation_id: gates with the same correlation_id;
- its parent_event_id: the gate whose event_id it is (the decision it executes);
- its session: gates of the same session.
An approval finds its gate the same way (its parent_event_id being the
decision it answers). A gate that names a tool or resource governs only
actions on that tool or resource; one that names neither governs every
action it is linked to. The latest linked gate decides, so a later allow
lifts an earlier deny.

Memory is bounded: at most `max_gates` gates (oldest dropped first), each
forgotten `remember` after it was made; ids are kept as 12-hex-digit digests,
so a gate costs under 100 bytes of state whatever the ids look like.
"""

from __future__ import annotations

from typing import Any

from agentaudit.detect.detectors.base import EXECUTED_TYPES, Detector, Params, digest
from agentaudit.detect.fields import RecordView
from agentaudit.detect.model import AgentContext, Findings

# A gate, as a JSON list: [correlation, event, session, subject, decision, answer, made_at_us, policy_id]
_CORR, _EVENT, _SESSION, _SUBJECT, _DECISION, _ANSWER, _AT, _POLICY = range(8)
APPROVED, REJECTED, UNANSWERED = "approved", "rejected", ""


class GateDetector(Detector):
    """Stateful: slot["g"] holds the gates, oldest first."""

    stateful = True

    def __init__(self, params: Params) -> None:
        self.remember_us = params.duration("remember", "1h")
        self.max_gates = params.integer("max_gates", 16, 1, 64)
        params.done()

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        gates: list[list[Any]] = slot.setdefault("g", [])
        now, action = view.time_us, view.action
        if gates and gates[0][_AT] < now - self.remember_us:
            gates[:] = [gate for gate in gates if gate[_AT] >= now - self.remember_us]
        if view.action_type == "policy_decision":
            self._remember(gates, view)
            return None
        if view.action_type == "approval":
            self._answer(gates, view)
            return None
        if not gates or view.action_type not in EXECUTED_TYPES or action["outcome"] != "success":
            return None
        subjects = {"", *(digest(value) for value in (action.get("tool"), action.get("resource")) if value)}
        linked, how = _linked(gates, action)
        governing = [gate for gate in linked if gate[_SUBJECT] in subjects]
        if not governing:
            return None
        gate = governing[-1]
        ago = (now - gate[_AT]) // 1_000_000
        if gate[_DECISION] == "deny":
            return f"executed after policy {gate[_POLICY]!r} denied it {ago}s earlier (linked by {how})"
        if gate[_DECISION] == "require_approval" and gate[_ANSWER] != APPROVED:
            answer = "the approval was rejected" if gate[_ANSWER] == REJECTED else "no approval was given"
            return f"executed without the approval policy {gate[_POLICY]!r} required: {answer} (linked by {how})"
        return None

    def _remember(self, gates: list[list[Any]], view: RecordView) -> None:
        action = view.action
        policy = action.get("policy")
        if policy is None:
            return
        subject = action.get("tool") or action.get("resource")
        gates.append([
            digest(action["correlation_id"]) if action.get("correlation_id") else "",
            digest(action["event_id"]), digest(action["session_id"]), digest(subject) if subject else "",
            policy["decision"], UNANSWERED, view.time_us, str(policy["policy_id"])[:40],
        ])
        del gates[:-self.max_gates]

    @staticmethod
    def _answer(gates: list[list[Any]], view: RecordView) -> None:
        approval = view.action.get("approval")
        if approval is None:
            return
        linked, _ = _linked(gates, view.action)
        waiting = [gate for gate in linked if gate[_DECISION] == "require_approval"]
        if waiting:
            waiting[-1][_ANSWER] = APPROVED if approval["decision"] == "approved" else REJECTED


def _linked(gates: list[list[Any]], action: Any) -> tuple[list[list[Any]], str]:
    if action.get("correlation_id"):
        key = digest(action["correlation_id"])
        return [gate for gate in gates if gate[_CORR] == key], "correlation id"
    if action.get("parent_event_id"):
        key = digest(action["parent_event_id"])
        return [gate for gate in gates if gate[_EVENT] == key], "parent event"
    key = digest(action["session_id"])
    return [gate for gate in gates if gate[_SESSION] == key], "session"


class DenyBurstDetector(Detector):
    """Stateful: slot["t"] holds the times of the last `count` denials.

    A denial is an action with outcome denied, or a policy_decision that
    decided deny. Hits on each denial that makes `count` within `within`.
    """

    stateful = True

    def __init__(self, params: Params) -> None:
        self.count = params.integer("count", 10, 2, 100)
        self.within_us = params.duration("within", "1m")
        params.done()

    def check(self, view: RecordView, ctx: AgentContext, slot: dict[str, Any], findings: Findings) -> str | None:
        action = view.action
        denied = action["outcome"] == "denied" or (
            view.action_type == "policy_decision" and (action.get("policy") or {}).get("decision") == "deny")
        if not denied:
            return None
        times: list[int] = slot.setdefault("t", [])
        times.append(view.time_us)
        del times[:-self.count]
        if len(times) == self.count and times[0] >= view.time_us - self.within_us:
            span = (view.time_us - times[0]) // 1_000_000
            return f"{self.count} denied actions within {span}s (limit {self.count} in {self.within_us // 1_000_000}s)"
        return None
