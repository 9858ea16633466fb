"""RuleSet.evaluate: scores, determinism, and state that survives a save and restore exactly."""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from agentaudit.detect import MAX_STATE_BYTES, AgentContext, DetectState, Findings, Hit, RuleSet, Verdict
from agentaudit.detect.model import combine_scores
from agentaudit.errors import PermanentError

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.perf.detect_bench import records as demo_records  # noqa: E402


def demo(count: int) -> list[tuple[dict[str, Any], AgentContext]]:
    return list(demo_records(count, 8))


def run(rules: RuleSet, batch: list[tuple[dict[str, Any], AgentContext]], states: dict[str, DetectState]
        ) -> list[Verdict]:
    return [rules.evaluate(record, ctx, states.setdefault(ctx.agent_id, DetectState()), Findings())
            for record, ctx in batch]


def test_scores_take_the_highest_hit_plus_diminishing_shares_of_the_others() -> None:
    assert combine_scores([]) == 0
    assert combine_scores([45]) == 45
    assert combine_scores([20, 60, 40]) == 60 + 20 + 5
    assert combine_scores([90, 75, 70]) == 100


def test_identical_inputs_give_identical_verdicts_and_states() -> None:
    batch = demo(6000)
    rules = RuleSet.load()
    first_states: dict[str, DetectState] = {}
    second_states: dict[str, DetectState] = {}
    first = run(rules, batch, first_states)
    second = run(RuleSet.load(), batch, second_states)
    assert first == second
    assert {a: s.to_json() for a, s in first_states.items()} == {a: s.to_json() for a, s in second_states.items()}
    assert sum(len(verdict.hits) for verdict in first) > 0


def test_state_saved_and_restored_midway_continues_exactly() -> None:
    batch = demo(6000)
    rules = RuleSet.load()
    straight_states: dict[str, DetectState] = {}
    straight = run(rules, batch, straight_states)
    restored_states: dict[str, DetectState] = {}
    before = run(rules, batch[:2500], restored_states)
    restored_states = {agent: DetectState.from_json(state.to_json()) for agent, state in restored_states.items()}
    after = run(rules, batch[2500:], restored_states)
    assert before + after == straight
    assert {a: s.to_json() for a, s in restored_states.items()} == {a: s.to_json() for a, s in straight_states.items()}


def test_the_demo_workload_triggers_most_rules() -> None:
    fired = {hit.rule_id for verdict in run(RuleSet.load(), demo(20000), {}) for hit in verdict.hits}
    # policy.executed_despite_decision contains (suspends) the agent: the demo plays it once, with its
    # rogue agent (demo.run.rogue_agent), not in the workload
    assert {"scope.tool_out_of_scope", "scope.data_class_out_of_scope", "policy.executed_after_deny",
            "data.pii_in_parameters", "data.secret_in_parameters",
            "input.prompt_injection", "budget.daily_tokens_exceeded", "budget.daily_cost_exceeded",
            "integrity.clock_skew", "policy.deny_burst", "behaviour.new_tool"} <= fired


def test_state_stays_under_its_cap_with_every_slot_full() -> None:
    rules = RuleSet.load()
    state = DetectState()
    agent = AgentContext("agent-1", "acme")
    start = 1_791_280_800_000_000
    for n in range(3000):  # distinct tools, resources, sessions, correlation ids and denials: every bound reached
        action = {"event_id": f"e-{n}-" + "x" * 60, "agent_id": "agent-1", "session_id": f"s-{n}-" + "y" * 60,
                  "sequence": 1, "tenant_id": "acme", "principal": {"type": "user", "id": "u"},
                  "action_type": ("policy_decision", "tool_call")[n % 2], "tool": f"tool-{n}-" + "t" * 70,
                  "resource": f"svc{n}://host-{n}" + "r" * 70 + "/x", "parameters": None,
                  "outcome": "denied", "error": None,
                  "policy": {"decision": "deny", "policy_id": "p" * 80, "policy_version": "1", "reason": None},
                  "approval": None, "model": None,
                  "usage": {"input_tokens": 10**9, "output_tokens": 0, "cost_micros": 10**12, "currency": "USD"},
                  "agent_time": 0, "correlation_id": f"c-{n}-" + "z" * 60, "parent_event_id": None,
                  "attributes": {}, "key_id": "k", "signature": b""}
        rules.evaluate({"action": action, "ingest_time": start + n * 1000, "source": {}, "clock_skew_ms": 0,
                        "attribution": None}, agent, state)
    size = len(state.to_json())
    assert size < MAX_STATE_BYTES, size


def test_corrupt_state_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError, match="state_corrupt"):
        DetectState.from_json(b"{not json")
    with pytest.raises(PermanentError, match="state_corrupt"):
        DetectState.from_json(json.dumps({"rule": [1, 2]}))


def test_incident_hits_respect_the_tenant_threshold_and_minimum_severity() -> None:
    from agentaudit.detect import DetectConfig

    config = DetectConfig.from_mapping({"tenants": {"acme": {"incident_threshold": 50, "min_severity": "medium"}}})
    rules = RuleSet.load(config=config)
    low = Hit("a.low", "t", "low", "r", 20, False, 1)
    high = Hit("a.high", "t", "high", "r", 60, False, 1)
    assert rules.incident_hits(Verdict(70, (low, high)), "acme") == (high,)
    assert rules.incident_hits(Verdict(45, (high,)), "acme") == ()
    assert rules.incident_hits(Verdict(45, (low, high)), "globex") == (low, high)


def test_hits_come_out_in_rule_id_order() -> None:
    rules = RuleSet.load()
    ids = [rule.id for rule in rules.rules]
    assert ids == sorted(ids)
    for verdict in itertools.islice(run(rules, demo(4000), {}), None):
        assert [hit.rule_id for hit in verdict.hits] == sorted(hit.rule_id for hit in verdict.hits)
