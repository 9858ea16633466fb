"""Auditor sampling: N actions of the window, drawn reproducibly from a seed, each with its chain of custody.

The sample is the N chained records of the window whose SHA-256 of
"<seed>:<event_id>" (UTF-8) is smallest, ties broken by event id. For a seed
nobody chose with the data in view, that is a uniform draw without
replacement; the same seed over the same stored data gives the same sample,
and an auditor can recompute it from the window's event ids with any SHA-256
tool (sample_key), without trusting our code.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.api.trace import trace
from agentaudit.report.scope import RECORDS, RECORDS_WHERE, ReportScope, iso, rows
from agentaudit.settings import Settings

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def sample_key(seed: int, event_id: str) -> bytes:
    """The sort key of one event in the draw (what the SQL orders by)."""
    return hashlib.sha256(f"{seed}:{event_id}".encode()).digest()


def draw(client: Client, scope: ReportScope, n: int, seed: int) -> tuple[list[str], int]:
    """(the sampled event ids in draw order, how many chained records the window holds)."""
    params = scope.params(seed=str(seed), n=n)
    picked = rows(client, (
        f"SELECT event_id FROM {RECORDS} WHERE {RECORDS_WHERE} AND chain_position > 0 GROUP BY event_id "
        "ORDER BY SHA256(concat({seed:String}, ':', event_id)), event_id LIMIT {n:UInt32}"
    ), params, "drawing the sample")
    population = rows(client, f"SELECT uniqExact(event_id) FROM {RECORDS} WHERE {RECORDS_WHERE} AND chain_position > 0",
                      params, "counting the sampled population")
    return [str(r[0]) for r in picked], int(population[0][0])


def proof_file(event_id: str) -> str:
    """The pack's file name for an event's proof. Event ids are UUIDs once validated, but the name must be safe
    whatever is stored: anything else is named by its SHA-256."""
    stem = event_id if _SAFE_NAME.match(event_id) else hashlib.sha256(event_id.encode()).hexdigest()
    return f"samples/{stem}.proof.json"


@dataclass
class Sample:
    n: int
    seed: int
    population: int = 0
    chains: list[dict[str, Any]] = field(default_factory=list)  # for report.json: traces without bulky bytes
    proofs: dict[str, dict[str, Any]] = field(default_factory=dict)  # file name -> inclusion proof document

    def section(self) -> dict[str, Any]:
        return {"n": self.n, "seed": self.seed, "population": self.population,
                "method": 'the N chained records of the window with the smallest SHA-256("<seed>:<event_id>")',
                "event_ids": [c["event_id"] for c in self.chains], "chains": self.chains}


def take_sample(client: Client, settings: Settings, scope: ReportScope, n: int, seed: int,
                public_keys_document: Mapping[str, Any]) -> Sample:
    sample = Sample(n, seed)
    if n == 0:
        return sample
    event_ids, sample.population = draw(client, scope, n, seed)
    traced_settings = settings.with_changes(clickhouse_database=scope.database)
    for event_id in event_ids:
        chain = trace(client, traced_settings, event_id, scope.tenant_scope, public_keys_document)
        proof = chain["custody"].get("inclusion_proof")
        name = proof_file(event_id) if proof is not None and chain["custody"]["proof_verified"] else None
        if name is not None and proof is not None:
            sample.proofs[name] = proof
        sample.chains.append(for_report(chain, name))
    return sample


def for_report(chain: dict[str, Any], proof_name: str | None) -> dict[str, Any]:
    """Pure: a trace as the report shows it.

    The stored bytes and the audit path stay in the proof file, which is what
    an auditor checks. Parameters (free text, classified sensitive) appear as
    their size only, and attributes by name: the report is read more widely
    than the proofs, and a secret an agent put in its parameters must not
    spread with it.
    """
    execution = dict(chain["execution"])
    parameters = execution.pop("parameters")
    execution["parameters_bytes"] = len(parameters.encode()) if parameters else 0
    execution["attribute_names"] = sorted(execution.pop("attributes"))
    for name in ("agent_time", "ingest_time"):
        execution[name] = iso(execution[name])
    agent = dict(chain["agent"])
    if agent.get("registry"):
        agent["registry"] = {**agent["registry"], "valid_from": iso(agent["registry"]["valid_from"])}
    approval = chain["approval"]
    if approval is not None:
        approval = {**approval, "decided_at": iso(approval["decided_at"])}
    custody = chain["custody"]
    seal = custody.get("seal")
    return {
        **chain,
        "agent": agent,
        "approval": approval,
        "execution": execution,
        "related_actions": [{**r, "ingest_time": iso(r["ingest_time"])} for r in chain["related_actions"]],
        "incidents": [{**i, "first_seen": iso(i["first_seen"]), "last_seen": iso(i["last_seen"]),
                       "changed_at": iso(i["changed_at"]),
                       "timeline": [{**e, "changed_at": iso(e["changed_at"])} for e in i["timeline"]]}
                      for i in chain["incidents"]],
        "custody": {
            "source": custody["source"], "chain_position": custody["chain_position"],
            "prev_hash": custody["prev_hash"], "hash": custody["hash"],
            "seal": None if seal is None else {k: v for k, v in seal.items() if k != "value"},
            "proof_verified": custody["proof_verified"], "proof_file": proof_name, "problem": custody["problem"],
        },
    }
