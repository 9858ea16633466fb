"""Runs the checks over every agent and summarises them. No storage: data in, report out.

The ClickHouse path (run.verify_store) and the offline evidence-bundle path
(agentaudit.evidence) both feed AgentData to verify_agents, so an auditor's
offline verification applies exactly the checks an operator's does. Nothing
here imports a database or Kafka client.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastavro import schemaless_reader

from agentaudit.chain.seal import SealForm, SignatureCheck
from agentaudit.codec import load_schemas
from agentaudit.codec.base import body_offset
from agentaudit.verify.checks import (
    Anchor,
    AgentResult,
    ChainRows,
    Finding,
    Start,
    check_chain,
    check_seals,
    check_tail,
    first_unsealed,
)
from agentaudit.verify.expiry import retained_start

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass
class AgentData:
    agent_id: str
    rows: ChainRows
    seals: list[dict[str, Any]]
    anchor_seal: dict[str, Any] | None
    # seal seq -> (records found, their Merkle root, last one's hash) when the
    # store computed them; None: check_seals computes them from rows.
    roots: dict[int, tuple[int, bytes, bytes]] | None = None
    clean: bool = False  # every record after the first passed every check in bulk (only the start is left to check)


class SealReader:
    """Decodes stored seal values with the shipped Seal schema."""

    def __init__(self) -> None:
        self._schema = load_schemas().latest("Seal").parsed  # logical types stripped: times stay integers

    def decode(self, value: bytes) -> dict[str, Any]:
        datum = schemaless_reader(io.BytesIO(value[body_offset(value):]), self._schema, None)
        assert isinstance(datum, dict)
        return datum


def anchor_of(seal: dict[str, Any], seal_hash: bytes) -> Anchor:
    return Anchor(seal["last_position"], seal["head_hash"], seal_hash, seal["seq"], seal["until_time"])


@dataclass
class Report:
    agents: list[AgentResult] = field(default_factory=list)
    seconds: float = 0.0
    general: list[Finding] = field(default_factory=list)  # about no one agent: bundle files, the registry
    registry_entries: int = 0  # agent registry entries verified (ClickHouse verification only)
    columns_checked: int | None = None  # records whose query columns were checked (verify --columns)
    cutoff_us: int | None = None  # retention cutoff: data older than this may have expired (None: none may)

    @property
    def expired(self) -> list[AgentResult]:
        """Agents whose retained chain starts after records or seals that expired."""
        return [a for a in self.agents if a.expired_records or a.expired_seals]

    @property
    def findings(self) -> list[Finding]:
        return self.general + [f for a in self.agents for f in a.findings]

    @property
    def records(self) -> int:
        return sum(a.records for a in self.agents)

    @property
    def seals(self) -> int:
        return sum(a.seals for a in self.agents)

    @property
    def ok(self) -> bool:
        return not self.findings and bool(self.agents)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "agents": len(self.agents),
            "records": self.records,
            "seals": self.seals,
            "unsealed": sum(a.unsealed for a in self.agents),
            "registry_entries": self.registry_entries,
            "columns_checked": self.columns_checked,
            "retention_cutoff_us": self.cutoff_us,
            "expired": [{"agent_id": a.agent_id, "records": a.expired_records, "seals": a.expired_seals}
                        for a in self.expired],
            "seconds": round(self.seconds, 3),
            "records_per_second": round(self.records / self.seconds) if self.seconds else None,
            "findings": [f.as_dict() for f in self.findings],
        }


class SealSignatures:
    """A SignatureCheck answering from seal signatures checked up front, on every core.

    Ed25519 verification (~160 µs) is most of the Python time of a large
    verification, and cryptography releases the GIL while it runs, so threads
    share it out. The ClickHouse path calls check_ahead while the records query
    still runs; verify_agents then finds the verdicts ready.
    """

    def __init__(self, public_keys: Mapping[str, bytes], check: SignatureCheck) -> None:
        self._keys = public_keys
        self._check = check
        self._form = SealForm(load_schemas())
        self._verdicts: dict[tuple[str, bytes, bytes], bool] = {}
        self._seen: dict[int, dict[str, Any]] = {}  # seals already checked, kept so their ids stay theirs

    def check_ahead(self, seals: Iterable[dict[str, Any]]) -> None:
        fresh = [s for s in seals if id(s) not in self._seen]
        jobs = [(s["key_id"], self._form.signed_bytes(s), s["signature"]) for s in fresh]
        with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
            self._verdicts.update(zip(jobs, pool.map(lambda job: self._check(self._keys, *job), jobs), strict=True))
        self._seen.update((id(s), s) for s in fresh)

    def __call__(self, keys: Mapping[str, bytes], key_id: str, signed: bytes, signature: bytes) -> bool:
        found = self._verdicts.get((key_id, signed, signature)) if keys is self._keys else None
        return found if found is not None else self._check(keys, key_id, signed, signature)


def verify_agents(
    data: Iterable[AgentData],
    public_keys: Mapping[str, bytes],
    check_signature: SignatureCheck,
    interval_us: int,
    until_us: int | None,
    cutoff_us: int | None = None,
) -> Report:
    """Check every agent's chain and seals; until_us None means 'as of the newest seal'.

    cutoff_us: the retention cutoff. Records and seals missing from the start
    of a chain are accepted as expired only if they can be older than it
    (verify/expiry.py); None accepts no expiry at all.
    """
    started = time.perf_counter()
    form = SealForm(load_schemas())
    report = Report(cutoff_us=cutoff_us)
    tails: list[tuple[AgentData, AgentResult, int | None]] = []
    newest = 0
    data = list(data)
    if not isinstance(check_signature, SealSignatures):
        check_signature = SealSignatures(public_keys, check_signature)
    check_signature.check_ahead(s for a in data for s in ([a.anchor_seal] if a.anchor_seal else []) + a.seals)
    for agent in data:
        result = AgentResult(agent.agent_id, records=len(agent.rows.positions), seals=len(agent.seals))
        base = Start.genesis(agent.agent_id)
        if agent.anchor_seal is not None:
            # The seal the range starts from links to seals before the range,
            # which are not read; its signature is what makes it a trusted start.
            if not form.signature_valid(agent.anchor_seal, public_keys, check_signature):
                result.findings.append(
                    Finding("seal_bad_signature", agent.agent_id, "the seal the range starts from does not verify",
                            seal_seq=agent.anchor_seal["seq"])
                )
            base = Start.after(anchor_of(agent.anchor_seal, form.seal_hash(agent.anchor_seal)))
        start, implausible = retained_start(agent.agent_id, agent.rows, agent.seals, base, cutoff_us)
        result.findings += implausible
        result.expired_records, result.expired_seals = start.position - base.position, start.seq - base.seq
        result.findings += check_chain(agent.agent_id, agent.rows, start, only_first=agent.clean)
        result.findings += check_seals(
            agent.agent_id, agent.seals, agent.rows, start, form, public_keys, check_signature, agent.roots
        )
        last = agent.seals[-1] if agent.seals else agent.anchor_seal
        result.sealed_through = last["last_position"] if last else 0
        result.unsealed = len(agent.rows.positions) - first_unsealed(agent.rows, result.sealed_through)
        last_until = last["until_time"] if last else None
        if last_until is not None:
            newest = max(newest, last_until)
        tails.append((agent, result, last_until))
        report.agents.append(result)
    horizon = until_us if until_us is not None else newest
    for agent, result, last_until in tails:
        result.findings += check_tail(
            agent.agent_id, agent.rows, result.sealed_through, last_until, horizon, interval_us
        )
    report.seconds = time.perf_counter() - started
    return report
