"""SessionTracker: gaps are accepted and counted, replays and regressions are
refused, memory is bounded, and a saved state resumes exactly where it was."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from agentaudit.errors import AttributionError
from agentaudit.process.sessions import SessionCounts, SessionStatus, SessionTracker


def act(seq: int, session: str = "s-1", agent: str = "agent-1", event: str | None = None) -> dict[str, Any]:
    return {"agent_id": agent, "session_id": session, "sequence": seq,
            "event_id": event or f"{agent}/{session}/{seq}"}


def statuses(tracker: SessionTracker, *actions: dict[str, Any]) -> list[str]:
    return [str(tracker.check(a).status) for a in actions]


def test_in_order_sessions_are_ok_and_counted() -> None:
    tracker = SessionTracker()
    assert statuses(tracker, act(1), act(2), act(1, "s-2"), act(3)) == ["ok"] * 4
    assert tracker.counts("agent-1", "s-1") == SessionCounts(expected=3, actual=3)
    assert tracker.sessions("agent-1") == {"s-2": SessionCounts(1, 1), "s-1": SessionCounts(3, 3)}
    assert tracker.counts("agent-1", "nope") is None and tracker.counts("nobody", "s-1") is None


def test_a_gap_is_accepted_and_says_what_is_missing() -> None:
    tracker = SessionTracker()
    tracker.check(act(1))
    tracker.check(act(2))
    check = tracker.check(act(5))
    assert check.status is SessionStatus.GAP and not check.rejected
    assert (check.expected, check.missing) == (3, 2) and "(3..4)" in check.reason
    assert tracker.counts("agent-1", "s-1") == SessionCounts(expected=5, actual=3)
    assert tracker.counts("agent-1", "s-1").missing == 2  # type: ignore[union-attr]
    assert tracker.check(act(6)).status is SessionStatus.OK
    one = tracker.check(act(8))
    assert one.missing == 1 and "(7)" in one.reason


def test_a_new_session_that_does_not_start_at_1_is_a_gap() -> None:
    check = SessionTracker().check(act(3, "late"))
    assert check.status is SessionStatus.GAP and (check.expected, check.missing) == (1, 2)


def test_a_replayed_event_id_is_rejected_and_leaves_no_trace() -> None:
    tracker = SessionTracker()
    first = act(1)
    tracker.check(first)
    before = tracker.to_state()
    check = tracker.check(first)
    assert check.status is SessionStatus.REPLAYED_EVENT_ID and check.rejected
    assert tracker.to_state() == before
    error = check.error("acme")
    assert isinstance(error, AttributionError) and error.code == "replayed_event_id"
    assert error.registered_tenant_id == "acme" and first["event_id"] in error.reason


@pytest.mark.parametrize("seq", [1, 2, 3])
def test_a_sequence_at_or_below_the_highest_is_a_regression(seq: int) -> None:
    tracker = SessionTracker()
    statuses(tracker, act(1), act(2), act(3))
    before = tracker.to_state()
    check = tracker.check(act(seq, event="a-new-event-id"))
    assert check.status is SessionStatus.SEQUENCE_REGRESSION and check.rejected
    assert f"sequence {seq}" in check.reason and "highest accepted 3" in check.reason
    assert check.error().code == "sequence_regression"
    assert tracker.to_state() == before


def test_a_rejection_of_a_new_agent_leaves_no_state() -> None:
    tracker = SessionTracker()
    assert tracker.check(act(0, agent="new")).status is SessionStatus.SEQUENCE_REGRESSION
    assert tracker.to_state()["agents"] == {}


def test_a_replay_older_than_the_id_window_is_still_caught_by_its_sequence() -> None:
    tracker = SessionTracker(event_id_window=4)
    actions = [act(i) for i in range(1, 11)]
    statuses(tracker, *actions)
    assert len(tracker.to_state()["agents"]["agent-1"]["recent_event_ids"]) == 4
    assert tracker.check(actions[-1]).status is SessionStatus.REPLAYED_EVENT_ID
    assert tracker.check(actions[0]).status is SessionStatus.SEQUENCE_REGRESSION


def test_agents_are_tracked_apart() -> None:
    tracker = SessionTracker()
    assert statuses(tracker, act(1, agent="a"), act(1, agent="b"), act(2, agent="a")) == ["ok", "ok", "ok"]
    # Ids are remembered per agent: another agent's id is not this agent's replay.
    assert tracker.check(act(2, agent="b", event="a/s-1/1")).status is SessionStatus.OK


def test_session_window_forgets_the_least_recently_active() -> None:
    tracker = SessionTracker(session_window=2)
    statuses(tracker, act(1, "s-1"), act(1, "s-2"), act(2, "s-1"), act(1, "s-3"))  # s-2 is the least recent
    assert list(tracker.sessions("agent-1")) == ["s-1", "s-3"]
    resumed = tracker.check(act(2, "s-2"))
    assert resumed.status is SessionStatus.GAP and resumed.missing == 1  # documented: looks new


def test_ok_and_gap_checks_cannot_be_turned_into_errors() -> None:
    with pytest.raises(ValueError, match="not a rejection"):
        SessionTracker().check(act(1)).error()


def _stream(seed: int, n: int) -> list[dict[str, Any]]:
    """Three agents, several sessions, with gaps, replays and regressions mixed in."""
    rng = random.Random(seed)
    next_seq: dict[tuple[str, str], int] = {}
    sent: list[dict[str, Any]] = []
    for _ in range(n):
        roll = rng.random()
        if sent and roll < 0.05:
            sent.append(dict(rng.choice(sent)))  # replayed event
            continue
        agent, session = rng.choice(["a", "b", "c"]), rng.choice(["s1", "s2", "s3", "s4", "s5"])
        seq = next_seq.get((agent, session), 1)
        if roll < 0.10:
            seq += rng.randrange(1, 4)  # gap
        elif roll < 0.15 and seq > 1:
            seq -= 1  # regression with a new event id
        next_seq[(agent, session)] = max(seq + 1, next_seq.get((agent, session), 1))
        sent.append(act(seq, session, agent, event=f"e{len(sent)}"))
    return sent


def test_state_round_trip_resumes_identically() -> None:
    stream = _stream(11, 3000)
    half = len(stream) // 2
    original = SessionTracker(event_id_window=64, session_window=3)
    for a in stream[:half]:
        original.check(a)
    saved = json.loads(json.dumps(original.to_state()))
    restored = SessionTracker.from_state(saved)
    assert restored.to_state() == saved
    resumed = [original.check(a) for a in stream[half:]]
    assert resumed == [restored.check(a) for a in stream[half:]]
    assert original.to_state() == restored.to_state()
    # The resumed half exercises every verdict, so the comparison above means something.
    assert {str(c.status) for c in resumed} == {"ok", "gap", "replayed_event_id", "sequence_regression"}


def test_state_is_plain_json_and_bounded() -> None:
    tracker = SessionTracker(event_id_window=8, session_window=2)
    for i in range(1, 100):
        tracker.check(act(i, session=f"s{i % 5}", event=f"e{i}"))
    state = tracker.to_state()
    assert json.loads(json.dumps(state)) == state
    agent = state["agents"]["agent-1"]
    assert len(agent["recent_event_ids"]) == 8 and len(agent["sessions"]) == 2


@pytest.mark.parametrize("breakage", [
    lambda s: s.update(version=2),
    lambda s: s.pop("agents"),
    lambda s: s["agents"]["agent-1"]["sessions"].append(["s-9", 1, 2]),  # more accepted than numbered
    lambda s: s["agents"]["agent-1"]["recent_event_ids"].append(s["agents"]["agent-1"]["recent_event_ids"][0]),
    lambda s: s["agents"]["agent-1"]["sessions"].append(["s-9", 1]),
    lambda s: s["agents"]["agent-1"].pop("recent_event_ids"),
])
def test_a_malformed_state_is_refused(breakage: Any) -> None:
    tracker = SessionTracker()
    statuses(tracker, act(1), act(2))
    state = tracker.to_state()
    breakage(state)
    with pytest.raises(ValueError):
        SessionTracker.from_state(state)


def test_windows_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SessionTracker(event_id_window=0)
