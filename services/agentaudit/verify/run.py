"""Verifies what is stored in ClickHouse: verify_agents (agents.py) over store.read."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime

from clickhouse_connect.driver.client import Client

from agentaudit.chain.seal import SignatureCheck
from agentaudit.evidence.values import ValueReader
from agentaudit.query.timeparse import to_micros
from agentaudit.verify.agents import EPOCH, FAR_FUTURE, Report, SealSignatures, verify_agents
from agentaudit.verify.columns import check_columns
from agentaudit.verify.registry import check_registry
from agentaudit.verify.store import name_events, read

__all__ = ["EPOCH", "FAR_FUTURE", "Report", "verify_agents", "verify_store"]


def verify_store(
    client: Client, database: str, agents: list[str], since: datetime, until: datetime | None,
    public_keys: Mapping[str, bytes], check_signature: SignatureCheck, interval_us: int,
    side: Client | None = None, columns: ValueReader | None = None,
    progress: Callable[[int], None] | None = None, cutoff: datetime | None = None,
) -> Report:
    """verify_agents over ClickHouse, timed from the first query, findings naming their events.

    side: a second client of the same ClickHouse, to read seals in parallel.
    columns: also check every record's query columns against its bytes,
    decoding them with this reader (verify --columns); progress(n) is told
    after each n records so checked. cutoff: the retention cutoff (now minus
    the retention), before which records and seals may have expired; None:
    none may have.
    """
    started = time.perf_counter()
    signatures = SealSignatures(public_keys, check_signature)
    data = read(client, database, agents, since, until or FAR_FUTURE, side, on_seals=signatures.check_ahead)
    report = verify_agents(data, public_keys, signatures, interval_us,
                           to_micros(until) if until is not None else None,
                           to_micros(cutoff) if cutoff is not None else None)
    for result in report.agents:
        if result.findings:
            result.findings = name_events(client, database, result.findings)
    if columns is not None:
        report.columns_checked, mismatches = check_columns(client, database, agents, since, until or FAR_FUTURE,
                                                           columns, progress)
        results = {result.agent_id: result for result in report.agents}
        for finding in mismatches:
            # every checked row is in some agent's chain range, so its agent has a result
            results[finding.agent_id].findings.append(finding)
    report.registry_entries, registry_findings = check_registry(client, database, public_keys)
    report.general += registry_findings
    report.seconds = time.perf_counter() - started
    return report
