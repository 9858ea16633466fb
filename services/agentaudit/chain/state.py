"""What the processor must remember about one agent's chain between batches.

Kept per agent, persisted after every batch that changed it (compacted topic,
agentaudit.process.state_store) and restored on restart, so that linking and
sealing resume exactly where the last durable batch left off (invariant 4).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentaudit.chain.links import genesis
from agentaudit.chain.merkle import Frontier
from agentaudit.chain.seal import seal_genesis


@dataclass
class ChainState:
    agent_id: str
    tenant_id: str
    partition: int  # the agent.actions partition the agent's actions arrive on
    applied_offset: int  # last input offset of that partition applied to this state
    position: int = 0  # last chain position (0: no record yet)
    head: bytes = b""  # chain hash at position (the genesis when position is 0)
    seal_seq: int = 0  # last seal's number (0: none yet)
    seal_hash: bytes = b""  # last seal's hash (the seal genesis before the first)
    period_from_us: int = 0  # start of the time span the next seal covers
    period_end_us: int = 0  # the next time-seal boundary
    pending: Frontier = field(default_factory=Frontier)  # records since the last seal
    pending_first_us: int = 0  # ingest time of the first pending record
    sessions: dict[str, Any] = field(default_factory=dict)  # the session tracker's own state
    detect: dict[str, Any] = field(default_factory=dict)  # the detection rules' memory (DetectState.slots)
    incidents: dict[str, Any] = field(default_factory=dict)  # incidents collecting hits (IncidentGroups)

    @classmethod
    def new(cls, agent_id: str, tenant_id: str, partition: int, offset: int, now_us: int, period_us: int) -> ChainState:
        return cls(
            agent_id, tenant_id, partition, offset,
            head=genesis(agent_id), seal_hash=seal_genesis(agent_id),
            period_from_us=now_us, period_end_us=(now_us // period_us + 1) * period_us,
        )

    @property
    def sealed_through(self) -> int:
        return self.position - self.pending.count

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "agent_id": self.agent_id, "tenant_id": self.tenant_id,
                "partition": self.partition, "applied_offset": self.applied_offset,
                "position": self.position, "head": self.head.hex(),
                "seal_seq": self.seal_seq, "seal_hash": self.seal_hash.hex(),
                "period_from_us": self.period_from_us, "period_end_us": self.period_end_us,
                "pending": [self.pending.count, [[h, n.hex()] for h, n in self.pending.nodes()]],
                "pending_first_us": self.pending_first_us,
                "sessions": self.sessions,
                "detect": self.detect,
                "incidents": self.incidents,
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ChainState:
        d = json.loads(data)
        count, nodes = d["pending"]
        return cls(
            d["agent_id"], d["tenant_id"], d["partition"], d["applied_offset"],
            position=d["position"], head=bytes.fromhex(d["head"]),
            seal_seq=d["seal_seq"], seal_hash=bytes.fromhex(d["seal_hash"]),
            period_from_us=d["period_from_us"], period_end_us=d["period_end_us"],
            pending=Frontier(count, [(h, bytes.fromhex(n)) for h, n in nodes]),
            pending_first_us=d["pending_first_us"],
            sessions=d["sessions"],
            # states saved before detection existed have neither
            detect=d.get("detect", {}), incidents=d.get("incidents", {}),
        )
