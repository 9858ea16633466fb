"""A workload of simulated agents: realistic sessions, and some broken input.

Pure and seeded: the same seed plans the same sessions. Each agent has a job
(support, billing, coding, research) and works in sessions for a principal;
each session is a short story of actions — an LLM call, a policy decision, an
approval, a tool call, a data read or write, a message out. A small share of
messages is malformed on purpose, one kind of breakage each, so the demo shows
every rejection reason landing in ClickHouse next to the good records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AgentProfile:
    agent_id: str
    tenant_id: str
    job: str
    principals: tuple[str, ...]


@dataclass(frozen=True)
class Act:
    """One valid action to emit in a session: action type and AgentAction fields."""

    agent: AgentProfile
    session: int
    principal: str
    action_type: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Breakage:
    """One malformed message, and the rejection reason it must produce."""

    agent: AgentProfile
    reason: str


Step = Act | Breakage

JOBS = ("support", "billing", "coding", "research")
TENANTS = ("acme", "globex", "initech")
MODELS = (("anthropic", "claude-sonnet-4"), ("openai", "gpt-4.1"), ("google", "gemini-2.5-pro"))
# One of each kind the processor must reject; "too_large" is rare because each is over 1 MiB.
BREAKAGES = ("not_avro", "empty_value", "unknown_schema", "missing_field", "invalid_utf8",
             "clock_skew", "invalid_field", "too_large", "bad_signature", "unknown_agent", "replayed_event_id")
BREAKAGE_WEIGHTS = (20, 10, 10, 15, 10, 20, 14, 1, 10, 10, 10)


def agents(count: int) -> list[AgentProfile]:
    """count agents spread over jobs and tenants, each acting for a few principals."""
    profiles = []
    for i in range(count):
        job = JOBS[i % len(JOBS)]
        tenant = TENANTS[i % len(TENANTS)]
        principals = tuple(f"{tenant}-user-{j}" for j in range(i % 3 + 2))
        profiles.append(AgentProfile(f"{job}-agent-{i + 1}", tenant, job, principals))
    return profiles


class Workload:
    """Plans steps for a set of agents; iterate plan(n) for exactly n steps."""

    def __init__(self, profiles: list[AgentProfile], bad_ratio: float = 0.02, seed: int = 7) -> None:
        if not 0 <= bad_ratio < 1:
            raise ValueError("bad_ratio must be in [0, 1)")
        self.profiles = profiles
        self.bad_ratio = bad_ratio
        self.rng = random.Random(seed)
        self._sessions = 0

    def plan(self, n: int) -> Iterator[Step]:
        stories = [self._story(agent) for agent in self.profiles]
        for _ in range(n):
            i = self.rng.randrange(len(self.profiles))
            if self.rng.random() < self.bad_ratio:
                reason = self.rng.choices(BREAKAGES, BREAKAGE_WEIGHTS)[0]
                yield Breakage(self.profiles[i], reason)
            else:
                yield next(stories[i])

    def _story(self, agent: AgentProfile) -> Iterator[Act]:
        """Endless sessions of the agent's job, one action at a time."""
        while True:
            self._sessions += 1
            session, principal = self._sessions, self.rng.choice(agent.principals)
            for action_type, fields in getattr(self, f"_{agent.job}")(agent):
                yield Act(agent, session, principal, action_type, fields)

    def _llm(self) -> dict[str, Any]:
        provider, name = self.rng.choice(MODELS)
        tokens_in, tokens_out = self.rng.randint(200, 4000), self.rng.randint(50, 1200)
        return {
            "model": {"provider": provider, "name": name, "version": None},
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                      "cost_micros": tokens_in * 3 + tokens_out * 15, "currency": "USD"},
            "attributes": {"gen_ai.operation.name": "chat"},
        }

    def _tool(self, tool: str, resource: str, params: dict[str, Any], outcome: str = "success") -> dict[str, Any]:
        return {"tool": tool, "resource": resource, "parameters": json.dumps(params), "outcome": outcome,
                "attributes": {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}}

    def _support(self, agent: AgentProfile) -> list[tuple[str, dict[str, Any]]]:
        customer = self.rng.randint(1, 5000)
        steps = [("llm_call", self._llm()),
                 ("tool_call", self._tool("crm.lookup", f"crm://customers/{customer}", {"customer": customer})),
                 ("data_read", self._tool("crm.read", f"crm://customers/{customer}/orders", {"limit": 10}))]
        if self.rng.random() < 0.5:
            steps.append(("external_message", self._tool("email.send", f"mailto:customer-{customer}@example.com",
                                                          {"template": "order-status"})))
        return steps

    def _billing(self, agent: AgentProfile) -> list[tuple[str, dict[str, Any]]]:
        amount = self.rng.randint(5, 900)
        needs_approval = amount > 200
        decision = "require_approval" if needs_approval else "allow"
        policy = {"decision": decision, "policy_id": "refunds", "policy_version": "2026-10-01",
                  "reason": f"refund of {amount} USD" + (" over 200 USD" if needs_approval else "")}
        steps = [("llm_call", self._llm()), ("policy_decision", {"policy": policy, "outcome": "success"})]
        approved = True
        if needs_approval:
            approved = self.rng.random() < 0.8
            approver = {"type": "user", "id": f"{agent.tenant_id}-finance-lead"}
            steps.append(("approval", {"approval": {"approver": approver,
                                                    "decision": "approved" if approved else "rejected",
                                                    "decided_at": 0, "approval_id": None},
                                       "outcome": "success"}))
        outcome = "success" if approved else "denied"
        steps.append(("data_write", self._tool("payments.refund", f"payments://refunds/{self.rng.randint(1, 10**6)}",
                                                {"amount": amount, "currency": "USD"}, outcome)))
        return steps

    def _coding(self, agent: AgentProfile) -> list[tuple[str, dict[str, Any]]]:
        repo = self.rng.choice(("api", "web", "infra"))
        steps = [("llm_call", self._llm()),
                 ("data_read", self._tool("git.read", f"git://{repo}/src/main.py", {"ref": "main"})),
                 ("tool_call", self._tool("tests.run", f"ci://{repo}", {"suite": "unit"},
                                          self.rng.choice(("success", "success", "failure"))))]
        if self.rng.random() < 0.1:
            policy = {"decision": "deny", "policy_id": "prod-deploys", "policy_version": "3",
                      "reason": "agents may not deploy to production"}
            steps.append(("policy_decision", {"policy": policy, "outcome": "success"}))
            steps.append(("tool_call", {**self._tool("deploy.run", f"k8s://prod/{repo}", {}, "denied"),
                                        "policy": policy}))
        return steps

    def _research(self, agent: AgentProfile) -> list[tuple[str, dict[str, Any]]]:
        return [("llm_call", self._llm()),
                ("tool_call", self._tool("web.search", "https://search.example.com", {"q": "SOC 2 CC7.2"})),
                ("data_read", self._tool("docs.read", f"kb://articles/{self.rng.randint(1, 900)}", {}))]
