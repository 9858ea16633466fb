"""Per-session completeness and replay checks. No I/O, no clock.

Each session numbers its actions 1, 2, 3, ... (AgentAction.sequence). Per
agent, SessionTracker remembers for each session the highest sequence
accepted and how many actions were accepted, and the agent's most recent
event ids, and judges each new action:

| status                | when                                           | the action      |
|-----------------------|------------------------------------------------|-----------------|
| ok                    | sequence is the next one (1 for a new session) | accepted        |
| gap                   | sequence jumps ahead; the ones between missing | accepted, incident + metric |
| replayed_event_id     | event id among the agent's recent accepted ids | rejected        |
| sequence_regression   | sequence at or below the highest accepted      | rejected        |

Windows (both bounded, so memory and persisted state stay small):

- event ids: the last `event_id_window` (default 1,024) accepted per agent.
  A replay of an older event is still caught, as sequence_regression, because
  its sequence is at or below its session's highest; the id check names the
  replay precisely while it is recent.
- sessions: the `session_window` (default 1,024) most recently active per
  agent. A session idle while that many others of the same agent were active
  is forgotten; if it resumes, its next action looks like a new session that
  skipped 1..n-1 and is reported as a gap (accepted, low severity).

At the defaults an agent's saved state is at most about 100 KB of JSON
(1,024 event ids of 36 characters, 1,024 session entries); most agents have
far fewer sessions in flight.

Contract for the caller:

- Feed only actions that passed attribute(): a forged action must not move
  a session forward and make the genuine ones look like regressions.
- check() records ok and gap actions as it returns; rejected ones leave no trace.
- Replays after a crash (invariant 4): save to_state() at the same point as
  the consumer offsets it reflects (e.g. in the same checkpoint). State that is
  ahead of the offsets would judge the replayed input as replays of itself.
- Feed one agent's actions in their partition order (the agent id is the
  Kafka key, so the processor sees them in that order).
"""

from __future__ import annotations

import enum
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentaudit.errors import AttributionError

DEFAULT_EVENT_ID_WINDOW = 1024
DEFAULT_SESSION_WINDOW = 1024
STATE_VERSION = 1


class SessionStatus(enum.StrEnum):
    OK = "ok"
    GAP = "gap"
    REPLAYED_EVENT_ID = "replayed_event_id"
    SEQUENCE_REGRESSION = "sequence_regression"


@dataclass(frozen=True)
class SessionCheck:
    """The verdict on one action. expected is the sequence the session was due
    next; missing is how many sequences a gap skipped (0 otherwise)."""

    status: SessionStatus
    agent_id: str
    session_id: str
    event_id: str
    sequence: int
    expected: int
    missing: int
    reason: str

    @property
    def rejected(self) -> bool:
        return self.status in (SessionStatus.REPLAYED_EVENT_ID, SessionStatus.SEQUENCE_REGRESSION)

    def error(self, registered_tenant_id: str | None = None) -> AttributionError:
        """The AttributionError to reject this action with; only for a rejected check."""
        if not self.rejected:
            raise ValueError(f"a {self.status} check is not a rejection")
        return AttributionError(str(self.status), self.reason, registered_tenant_id=registered_tenant_id)


@dataclass(frozen=True)
class SessionCounts:
    """Actions a session should have produced so far (its highest sequence) and
    how many were accepted; the difference is what was lost."""

    expected: int
    actual: int

    @property
    def missing(self) -> int:
        return self.expected - self.actual


@dataclass
class _AgentState:
    # session id -> [highest accepted sequence, accepted count], least recently active first
    sessions: OrderedDict[str, list[int]] = field(default_factory=OrderedDict)
    recent_ids: deque[str] = field(default_factory=deque)
    recent_set: set[str] = field(default_factory=set)


class SessionTracker:
    """Judges each attributed action against its session's history (see the module doc)."""

    def __init__(
        self, event_id_window: int = DEFAULT_EVENT_ID_WINDOW, session_window: int = DEFAULT_SESSION_WINDOW
    ) -> None:
        if event_id_window < 1 or session_window < 1:
            raise ValueError("windows must be at least 1")
        self.event_id_window = event_id_window
        self.session_window = session_window
        self._agents: dict[str, _AgentState] = {}

    def check(self, action: Mapping[str, Any]) -> SessionCheck:
        agent_id, session_id = str(action["agent_id"]), str(action["session_id"])
        event_id, sequence = str(action["event_id"]), int(action["sequence"])
        # A new agent gets its state only once an action of it is accepted, so a
        # rejection leaves no trace at all.
        agent = self._agents.get(agent_id) or _AgentState()
        session = agent.sessions.get(session_id)
        highest = session[0] if session else 0

        def verdict(status: SessionStatus, missing: int, reason: str) -> SessionCheck:
            return SessionCheck(status, agent_id, session_id, event_id, sequence, highest + 1, missing, reason)

        if event_id in agent.recent_set:
            return verdict(
                SessionStatus.REPLAYED_EVENT_ID, 0,
                f"event {event_id} of agent {agent_id!r} was already accepted: a replayed (resent or captured) "
                "action; the original is kept, this copy is rejected",
            )
        if sequence <= highest:
            return verdict(
                SessionStatus.SEQUENCE_REGRESSION, 0,
                f"sequence {sequence} in session {session_id!r} of agent {agent_id!r} repeats or goes back "
                f"(highest accepted {highest}): the runtime reused or restarted the session's numbering, or resent an old action",
            )
        missing = sequence - highest - 1
        self._agents.setdefault(agent_id, agent)
        self._accept(agent, session_id, session, sequence, event_id)
        if missing:
            first = "" if missing == 1 else f"{highest + 1}.."
            return verdict(
                SessionStatus.GAP, missing,
                f"session {session_id!r} of agent {agent_id!r} jumped from {highest} to {sequence}: "
                f"{missing} action(s) ({first}{sequence - 1}) never arrived; check the emitter's delivery errors",
            )
        return verdict(SessionStatus.OK, 0, "")

    def _accept(self, agent: _AgentState, session_id: str, session: list[int] | None, sequence: int, event_id: str) -> None:
        if session is None:
            agent.sessions[session_id] = [sequence, 1]
            if len(agent.sessions) > self.session_window:
                agent.sessions.popitem(last=False)
        else:
            session[0] = sequence
            session[1] += 1
            agent.sessions.move_to_end(session_id)
        agent.recent_ids.append(event_id)
        agent.recent_set.add(event_id)
        if len(agent.recent_ids) > self.event_id_window:
            agent.recent_set.discard(agent.recent_ids.popleft())

    def counts(self, agent_id: str, session_id: str) -> SessionCounts | None:
        """Expected vs accepted actions of a session, or None if it is not (or no longer) tracked."""
        agent = self._agents.get(agent_id)
        session = agent.sessions.get(session_id) if agent else None
        return SessionCounts(session[0], session[1]) if session else None

    def sessions(self, agent_id: str) -> dict[str, SessionCounts]:
        """Every tracked session of an agent, least recently active first."""
        agent = self._agents.get(agent_id)
        return {sid: SessionCounts(s[0], s[1]) for sid, s in agent.sessions.items()} if agent else {}

    # -- persistence -----------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-able state; from_state() of it behaves identically."""
        return {
            "version": STATE_VERSION,
            "event_id_window": self.event_id_window,
            "session_window": self.session_window,
            "agents": {
                agent_id: {
                    "sessions": [[sid, s[0], s[1]] for sid, s in agent.sessions.items()],
                    "recent_event_ids": list(agent.recent_ids),
                }
                for agent_id, agent in sorted(self._agents.items())
            },
        }

    def agent_state(self, agent_id: str) -> dict[str, Any]:
        """One agent's part of to_state(), for callers that persist agent by agent."""
        agent = self._agents.get(agent_id)
        if agent is None:
            return {"sessions": [], "recent_event_ids": []}
        return {
            "sessions": [[sid, s[0], s[1]] for sid, s in agent.sessions.items()],
            "recent_event_ids": list(agent.recent_ids),
        }

    def restore_agent(self, agent_id: str, saved: Mapping[str, Any]) -> None:
        """Put back one agent's state saved by agent_state(); ValueError if malformed."""
        if not saved or not saved.get("sessions"):
            return
        restored = SessionTracker.from_state({
            "version": STATE_VERSION, "event_id_window": self.event_id_window,
            "session_window": self.session_window, "agents": {agent_id: saved},
        })
        self._agents[agent_id] = restored._agents[agent_id]

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SessionTracker:
        """Restore a tracker saved by to_state(); ValueError if the state is not one."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"session state version {state.get('version')!r} is not {STATE_VERSION}")
        try:
            tracker = cls(int(state["event_id_window"]), int(state["session_window"]))
            for agent_id, saved in state["agents"].items():
                agent = _AgentState()
                for session_id, highest, count in saved["sessions"]:
                    if not 0 < int(count) <= int(highest):
                        raise ValueError(f"session {session_id!r}: count {count} and highest {highest} disagree")
                    agent.sessions[str(session_id)] = [int(highest), int(count)]
                agent.recent_ids.extend(str(e) for e in saved["recent_event_ids"])
                agent.recent_set.update(agent.recent_ids)
                if len(agent.recent_set) != len(agent.recent_ids) or len(agent.recent_ids) > tracker.event_id_window:
                    raise ValueError(f"agent {agent_id!r}: recent event ids repeat or exceed the window")
                if len(agent.sessions) > tracker.session_window:
                    raise ValueError(f"agent {agent_id!r}: more sessions than the window")
                tracker._agents[str(agent_id)] = agent
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed session state: {exc!r}") from None
        return tracker
