"""Detection cost per record over the demo workload (issue 4: about 50 µs per record on average).

    PYTHONPATH=services .venv/bin/python tests/perf/detect_bench.py [--records 20000] [--agents 12]

Builds AuditRecord dicts exactly as the processor holds them before encoding
(the demo workload's actions, misuse included, as its agents emit them, see
tests/perf/verify_bench.py; ingest times 50 ms apart), with each agent's
registry scope as demo/identities.py declares it plus the tools the demo's
jobs use, then times RuleSet.evaluate() over all of them with every rule on,
and each rule alone (a rule set holding only that rule). Prints µs per record;
nothing is asserted.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services"))

import argparse
import gc
import itertools
import time
from collections.abc import Iterator
from typing import Any

from agentaudit.demo.workload import JOB_TOOLS, Act, AgentProfile, Workload
from agentaudit.demo.workload import agents as workload_agents
from agentaudit.detect import AgentContext, DetectState, Findings, RuleSet
from agentaudit.registry.model import Scope

START_US = 1_791_280_800_000_000  # Tuesday 2026-10-06 10:00 UTC
STEP_US = 50_000


def scope_of(profile: AgentProfile) -> Scope:
    return Scope(action_types=("llm_call", "tool_call", "data_read", "data_write", "external_message",
                               "policy_decision", "approval"),
                 tools=JOB_TOOLS[profile.job], resource_patterns=("*",), data_classes=("internal",))


def records(count: int, agents: int) -> Iterator[tuple[dict[str, Any], AgentContext]]:
    sessions: dict[tuple[str, int], tuple[str, itertools.count[int]]] = {}
    contexts: dict[str, AgentContext] = {}
    steps = Workload(workload_agents(agents), bad_ratio=0.0).plan(count)
    for n, act in enumerate(steps):
        assert isinstance(act, Act)
        session_id, sequence = sessions.setdefault((act.agent.agent_id, act.session),
                                                   (f"session-{act.session}", itertools.count(1)))
        now = START_US + n * STEP_US
        fields = dict(act.fields)
        if fields.get("approval"):
            fields["approval"] = {**fields["approval"], "decided_at": now}
        action = {
            "event_id": f"event-{n}", "agent_id": act.agent.agent_id, "session_id": session_id,
            "sequence": next(sequence), "tenant_id": act.agent.tenant_id,
            "principal": {"type": "user", "id": act.principal}, "action_type": act.action_type,
            "tool": None, "resource": None, "parameters": None, "outcome": "success", "error": None,
            "policy": None, "approval": None, "model": None, "usage": None, "agent_time": now + act.clock_offset_us,
            "correlation_id": None, "parent_event_id": None, "attributes": {},
            **fields, "key_id": "k1", "signature": b"\x01" * 64,
        }
        ctx = contexts.setdefault(act.agent.agent_id, AgentContext(act.agent.agent_id, act.agent.tenant_id,
                                                                   scope_of(act.agent)))
        yield {"action": action, "ingest_time": now, "source": {"topic": "agent.actions", "partition": 0, "offset": n},
               "clock_skew_ms": act.clock_offset_us // 1000, "attribution": {"agent_version": 1, "key_id": "k1", "algorithm": "ed25519"},
               "risk_score": None, "rule_hits": [], "chain": None}, ctx


def run(rule_set: RuleSet, batch: list[tuple[dict[str, Any], AgentContext]]) -> tuple[float, int]:
    """µs per record, and the number of hits."""
    states: dict[str, DetectState] = {}
    findings = Findings()
    hits = 0
    gc.collect()
    gc.disable()
    started = time.perf_counter()
    for record, ctx in batch:
        state = states.get(ctx.agent_id)
        if state is None:
            state = states[ctx.agent_id] = DetectState()
        hits += len(rule_set.evaluate(record, ctx, state, findings).hits)
    elapsed = time.perf_counter() - started
    gc.enable()
    return elapsed / len(batch) * 1e6, hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3, help="Best of this many runs.")
    args = parser.parse_args()
    batch = list(records(args.records, args.agents))
    full = RuleSet.load()
    best = min(run(full, batch) for _ in range(args.repeat))
    print(f"all {len(full.rules)} rules: {best[0]:.1f} µs/record over {len(batch):,} records ({best[1]:,} hits)")
    base = min(run(RuleSet((), full.config), batch) for _ in range(args.repeat))[0]
    print(f"  {'(no rules: the record view alone)':<36} {base:6.2f} µs/record")
    print("  each rule alone (and its own cost above the view):")
    for rule in full.rules:
        if rule.documentation_only:
            continue
        micros, hits = min(run(RuleSet((rule,), full.config), batch) for _ in range(args.repeat))
        print(f"  {rule.id:<36} {micros:6.2f} µs/record ({micros - base:+5.2f})  {hits:>6,} hits")


if __name__ == "__main__":
    main()
