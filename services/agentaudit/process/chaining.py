"""The chain stage: links accepted records into per-agent chains and seals them.

One ChainStage per agent.actions partition. Pure and deterministic: it reads
no clock and draws no randomness. Time comes from the inputs' broker stamps
(LogAppendTime) -- including the processor's own clock ticks, empty messages
it writes into agent.actions so that quiet partitions still advance -- so
reprocessing the same inputs after a crash makes the same links and the same
seals at the same places (invariant 4). Only a seal's signature can differ,
if the pipeline key was rotated in between, and seal hashes leave it out.

Seals are made
  - by count: when an agent has `every_records` records since its last seal;
  - by time: at the first input stamped at or after the agent's period end,
    covering everything since the last seal -- zero records for an idle
    agent, so a deleted stretch of time is as visible as a deleted record.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from agentaudit.chain.merkle import Frontier
from agentaudit.chain.seal import SealedBytes, SealForm, SealSigner
from agentaudit.chain.state import ChainState
from agentaudit.detect.state import DetectState
from agentaudit.incident.grouping import IncidentGroups
from agentaudit.process.sessions import SessionTracker


CHAINLESS_AGENTS = 1024
"""Agents without a chain whose findings are grouped (in memory, lost on restart):
bounded, because unregistered agent ids are whatever the input says."""

SESSION_WINDOW = 256
"""Recent event ids and active sessions remembered per agent. Saved with the
agent's chain state after every batch that touched it, so kept to a few KB;
an older replay is still caught as a sequence regression."""


@dataclass(frozen=True)
class SealPolicy:
    every_records: int
    interval_us: int

    def __post_init__(self) -> None:
        if self.every_records < 1 or self.interval_us < 1_000_000:
            raise ValueError("seal every 1+ records and every 1+ seconds")


@dataclass(frozen=True)
class Link:
    position: int
    prev_hash: bytes
    hash: bytes


class ChainStage:
    """Chains and seals for the agents of one input partition.

    `dirty` names the agents whose state changed since the caller last saved;
    the caller persists them only after every output made so far is durable.
    """

    def __init__(
        self,
        partition: int,
        states: dict[str, ChainState],
        watermark: int,
        policy: SealPolicy,
        form: SealForm,
        signer: SealSigner,
    ) -> None:
        self.partition = partition
        self.states = states
        self.watermark = watermark  # every input at or below it is already fully applied
        self.policy = policy
        self.form = form
        self.signer = signer
        self.dirty: set[str] = set()
        # Per-session sequence and replay checks; each agent's part is saved
        # with its chain state (kept small: see SESSION_WINDOW).
        self.sessions = SessionTracker(SESSION_WINDOW, SESSION_WINDOW)
        # Detection memory and incidents collecting hits, per agent, loaded from
        # the chain states on first use and saved with them (BatchHandler).
        self.detect: dict[str, DetectState] = {}
        self.groups: dict[str, IncidentGroups] = {}
        # Agents without a chain (unregistered, or never accepted) have nowhere
        # to save their incidents: grouped in memory only, the most recent few.
        self._chainless: OrderedDict[str, IncidentGroups] = OrderedDict()
        self._due = [(s.period_end_us, s.agent_id) for s in states.values()]
        heapq.heapify(self._due)

    def detect_state(self, agent_id: str) -> DetectState:
        """The agent's detection memory, loaded from its chain state on first use."""
        state = self.detect.get(agent_id)
        if state is None:
            saved = self.states.get(agent_id)
            state = self.detect[agent_id] = DetectState(dict(saved.detect) if saved else {})
        return state

    def incident_groups(self, agent_id: str, chained: bool = True) -> IncidentGroups:
        """The agent's incidents collecting hits, loaded from its chain state on first use.

        chained: the agent has, or is about to get, a chain state to save them
        with (an accepted record); otherwise they are kept in memory only.
        """
        groups = self.groups.get(agent_id)
        if groups is not None:
            return groups
        kept = self._chainless.pop(agent_id) if agent_id in self._chainless else None
        if chained or agent_id in self.states:
            saved = self.states.get(agent_id)
            groups = self.groups[agent_id] = kept or IncidentGroups(agent_id, saved.incidents if saved else None)
            return groups
        groups = self._chainless[agent_id] = kept or IncidentGroups(agent_id)
        if len(self._chainless) > CHAINLESS_AGENTS:
            self._chainless.popitem(last=False)
        return groups

    def applied(self, agent_id: str, offset: int) -> bool:
        """Whether this input was already applied to the agent's chain before a restart."""
        state = self.states.get(agent_id)
        return state is not None and offset <= state.applied_offset

    def advance(self, now_us: int, source: dict[str, Any]) -> list[SealedBytes]:
        """Time seals of every agent whose period ended at or before now_us."""
        seals: list[SealedBytes] = []
        interval = self.policy.interval_us
        while self._due and self._due[0][0] <= now_us:
            end, agent_id = heapq.heappop(self._due)
            state = self.states[agent_id]
            if state.period_end_us != end:  # superseded entry
                continue
            until = now_us // interval * interval
            seals.append(self._seal(state, "time", until, source))
            state.period_end_us = until + interval
            # Made before the input at source offset is applied: that input, if
            # it is this agent's, must not count as applied on a replay.
            state.applied_offset = max(state.applied_offset, source["offset"] - 1)
            heapq.heappush(self._due, (state.period_end_us, agent_id))
        return seals

    def link(
        self, agent_id: str, tenant_id: str, body: bytes, ingest_us: int, source: dict[str, Any]
    ) -> tuple[Link, list[SealedBytes]]:
        """Append one record (its canonical bytes) to its agent's chain."""
        state = self.states.get(agent_id)
        if state is None:
            state = ChainState.new(
                agent_id, tenant_id, self.partition, source["offset"], ingest_us, self.policy.interval_us
            )
            self.states[agent_id] = state
            heapq.heappush(self._due, (state.period_end_us, agent_id))
        prev = state.head
        digest = hashlib.sha256(prev + body).digest()
        state.position += 1
        state.head = digest
        if state.pending.count == 0:
            state.pending_first_us = ingest_us
        state.pending.append(digest)
        state.applied_offset = source["offset"]
        self.dirty.add(agent_id)
        seals = []
        if state.pending.count >= self.policy.every_records:
            seals.append(self._seal(state, "count", ingest_us, source))
        return Link(state.position, prev, digest), seals

    def touch(self, agent_id: str, offset: int) -> None:
        """Mark an input about a chained agent (e.g. its rejection) as applied."""
        state = self.states.get(agent_id)
        if state is not None and offset > state.applied_offset:
            state.applied_offset = offset
            self.dirty.add(agent_id)

    def _seal(self, state: ChainState, reason: str, until_us: int, source: dict[str, Any]) -> SealedBytes:
        sealed = self.form.make(
            {
                "agent_id": state.agent_id,
                "tenant_id": state.tenant_id,
                "seq": state.seal_seq + 1,
                "reason": reason,
                "first_position": state.sealed_through + 1,
                "last_position": state.position,
                "head_hash": state.head,
                "merkle_root": state.pending.root(),
                "from_time": state.period_from_us,
                "until_time": until_us,
                "prev_seal_hash": state.seal_hash,
                "source": source,
            },
            self.signer,
        )
        state.seal_seq += 1
        state.seal_hash = sealed.seal_hash
        state.pending = Frontier()
        state.period_from_us = until_us
        self.dirty.add(state.agent_id)
        return sealed
