"""Each detector's behaviour beyond its rule's examples: edges, windows, time zones, bounds."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from agentaudit.detect import DetectConfig, DetectState, Findings
from agentaudit.registry.model import Scope
from tests.unit.detect.support import MINUTE_US, ctx, only, record


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * 1_000_000


def test_scope_empty_lists_allow_nothing_and_globs_match_tools_and_resources() -> None:
    scope = Scope(action_types=("tool_call",), tools=("crm.*",), resource_patterns=("crm://customers/*",))
    tools, resources = only("scope.tool_out_of_scope"), only("scope.resource_out_of_scope")
    inside = record(action_type="tool_call", tool="crm.lookup", resource="crm://customers/7")
    outside = record(action_type="tool_call", tool="crmlookup", resource="crm://accounts/7")
    assert not tools.evaluate(inside, ctx(scope=scope), DetectState()).hits
    assert not resources.evaluate(inside, ctx(scope=scope), DetectState()).hits
    assert tools.evaluate(outside, ctx(scope=scope), DetectState()).hits
    [hit] = resources.evaluate(outside, ctx(scope=scope), DetectState()).hits
    assert "crm://accounts/7" not in hit.reason  # a resource may name a person: never quoted
    nothing = Scope()
    assert only("scope.action_type_out_of_scope").evaluate(record(action_type="llm_call"), ctx(scope=nothing),
                                                           DetectState()).hits
    classified = record(action_type="data_read", attributes={"agentaudit.data_class": "internal"})
    assert only("scope.data_class_out_of_scope").evaluate(classified, ctx(scope=nothing), DetectState()).hits


def test_gate_a_later_allow_lifts_a_deny_and_approvals_follow_their_decision() -> None:
    rules = only("policy.executed_after_deny")
    state, agent = DetectState(), ctx()
    deny = record(0, action_type="policy_decision", policy={"decision": "deny", "policy_id": "p"})
    allow = record(1, action_type="policy_decision", policy={"decision": "allow", "policy_id": "p"})
    run = record(2, action_type="tool_call", tool="deploy.run")
    assert not rules.evaluate(deny, agent, state).hits
    assert not rules.evaluate(allow, agent, state).hits
    assert not rules.evaluate(run, agent, state).hits
    ask = record(3, action_type="policy_decision", event_id="ask-1", policy={"decision": "require_approval"})
    other = record(4, action_type="policy_decision", event_id="ask-2", policy={"decision": "require_approval"})
    yes = record(5, action_type="approval", parent_event_id="ask-1", approval={"decision": "approved"})
    for earlier in (ask, other, yes):
        rules.evaluate(earlier, agent, state)
    assert not rules.evaluate(record(6, action_type="data_write", parent_event_id="ask-1"), agent, state).hits
    [hit] = rules.evaluate(record(7, action_type="data_write", parent_event_id="ask-2"), agent, state).hits
    assert "no approval was given" in hit.reason and "parent event" in hit.reason


def test_gate_memory_is_bounded() -> None:
    rules, state = only("policy.executed_after_deny"), DetectState()
    for n in range(100):
        rules.evaluate(record(n, action_type="policy_decision", session_id=f"s{n}", policy={"decision": "deny"}),
                       ctx(), state)
    assert len(state.slots["policy.executed_after_deny"]["g"]) == 16
    # the oldest gates were dropped: their sessions are no longer linked to a deny
    assert not rules.evaluate(record(101, action_type="tool_call", session_id="s0"), ctx(), state).hits
    assert rules.evaluate(record(102, action_type="tool_call", session_id="s99"), ctx(), state).hits


def test_budget_counts_per_local_day_of_the_tenant_and_restarts_at_local_midnight() -> None:
    config = DetectConfig.from_mapping({"tenants": {"acme": {"timezone": "America/New_York",
                                                             "budget": {"daily_tokens": 1000}}}})
    rules, state = only("budget.daily_tokens_exceeded", config), DetectState()

    def spend(n: int, when: str, tokens: int) -> bool:
        usage = {"input_tokens": tokens}
        return bool(rules.evaluate(record(n, at(when), action_type="llm_call", usage=usage), ctx(), state).hits)

    # 03:00 UTC on 7 Oct is 23:00 on 6 Oct in New York: the same local day as 10:00 local on the 6th.
    assert not spend(0, "2026-10-06T14:00:00+00:00", 600)
    assert spend(1, "2026-10-07T03:00:00+00:00", 600)  # crosses: 1,200 of 1,000
    assert spend(2, "2026-10-07T03:30:00+00:00", 0)  # later the same local day: still over
    assert not spend(3, "2026-10-07T04:30:00+00:00", 600)  # 00:30 local on the 7th: a new day
    assert state.slots["budget.daily_tokens_exceeded"]["day"] == "2026-10-07"


def test_budget_uses_the_agents_override() -> None:
    config = DetectConfig.from_mapping({"tenants": {"acme": {"budget": {"daily_tokens": 1000},
                                                             "agents": {"agent-big": {"daily_tokens": 10**6}}}}})
    rules = only("budget.daily_tokens_exceeded", config)
    big_call = record(action_type="llm_call", usage={"input_tokens": 5000})
    assert rules.evaluate(big_call, ctx(agent="agent-1"), DetectState()).hits
    assert not rules.evaluate(big_call, ctx(agent="agent-big"), DetectState()).hits


def test_off_hours_follow_the_tenant_time_zone_and_its_daylight_saving() -> None:
    config = DetectConfig.from_mapping({"tenants": {"acme": {"timezone": "Europe/Berlin",
                                                             "business_hours": "09:00-17:00"}}})
    rules = only("data.customer_data_off_hours", config)

    def flagged(when: str) -> bool:
        read = record(0, at(when), action_type="data_read", resource="crm://customers/1")
        return bool(rules.evaluate(read, ctx(), DetectState()).hits)

    assert not flagged("2026-07-06T07:30:00+00:00")  # 09:30 CEST (UTC+2), Monday
    assert flagged("2026-12-07T07:30:00+00:00")  # 08:30 CET (UTC+1), Monday: before hours
    assert flagged("2026-07-06T15:30:00+00:00")  # 17:30 CEST
    assert flagged("2026-07-04T10:00:00+00:00")  # Saturday


def test_rate_baseline_stays_quiet_during_warm_up_then_flags_a_burst_once_per_window() -> None:
    rules, state = only("behaviour.rate_anomaly"), DetectState()
    start = at("2026-10-06T00:00:00+00:00")
    n = 0

    def burst(minute: int, count: int) -> int:
        nonlocal n
        hits = 0
        for k in range(count):
            n += 1
            hits += len(rules.evaluate(record(n, start + minute * MINUTE_US + k * 1000, action_type="llm_call"),
                                       ctx(), state).hits)
        return hits

    assert burst(0, 60) == 0  # a burst in the first window: nothing to compare with yet
    for minute in range(1, 30):
        assert burst(minute, 3) == 0  # baseline being learnt: 30 closed windows needed
    assert burst(30, 60) == 1  # 30 windows closed: flagged once, however long the burst goes on
    slot = state.slots["behaviour.rate_anomaly"]
    assert slot["n"] == 30 and slot["f"] is True
    assert burst(31, 3) == 0


def test_rate_idle_windows_pull_the_baseline_down() -> None:
    rules, state = only("behaviour.rate_anomaly"), DetectState()
    start = at("2026-10-06T00:00:00+00:00")
    for minute in range(40):
        for k in range(30):
            rules.evaluate(record(0, start + minute * MINUTE_US + k, action_type="llm_call"), ctx(), state)
    busy_mean = state.slots["behaviour.rate_anomaly"]["m"]
    rules.evaluate(record(0, start + 100 * MINUTE_US, action_type="llm_call"), ctx(), state)
    assert state.slots["behaviour.rate_anomaly"]["m"] < busy_mean / 10


def test_novelty_forgets_the_least_recently_used_beyond_its_capacity() -> None:
    rules, state = only("behaviour.new_tool"), DetectState()
    for n in range(50):
        rules.evaluate(record(n, action_type="tool_call", tool="crm.lookup"), ctx(), state)
    new = [bool(rules.evaluate(record(50 + k, action_type="tool_call", tool=f"tool.{k}"), ctx(), state).hits)
           for k in range(70)]
    assert all(new)
    assert len(state.slots["behaviour.new_tool"]["k"]) == 64
    assert rules.evaluate(record(200, action_type="tool_call", tool="crm.lookup"), ctx(), state).hits  # evicted
    assert not rules.evaluate(record(201, action_type="tool_call", tool="tool.69"), ctx(), state).hits


def test_resource_families_ignore_which_customer_and_who_is_mailed() -> None:
    from agentaudit.detect.detectors.behaviour import resource_family

    assert resource_family("crm://customers/42/orders") == "crm://customers"
    assert resource_family("https://user:pw@api.example.com/v1") == "https://api.example.com"
    assert resource_family("mailto:jane@example.com") == "mailto:"


def test_sequence_gap_comes_from_the_findings() -> None:
    rules = only("integrity.sequence_gap")
    assert not rules.evaluate(record(action_type="llm_call"), ctx(), DetectState(), Findings(0)).hits
    [hit] = rules.evaluate(record(action_type="llm_call"), ctx(), DetectState(), Findings(sequence_gap=4)).hits
    assert hit.reason.startswith("4 action(s)") and hit.severity == "low"


def test_local_day_boundaries_across_a_dst_change() -> None:
    from agentaudit.detect.detectors.calendar import _local_day

    zone = ZoneInfo("Europe/Berlin")
    start, end, day = _local_day(at("2026-10-25T12:00:00+00:00"), zone)  # clocks go back: a 25-hour day
    assert day == "2026-10-25" and end - start == 25 * 3600 * 1_000_000
