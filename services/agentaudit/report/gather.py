"""Runs every section's queries and assembles the report document: plain JSON values, no presentation.

The document (report.json) is what the HTML and the PDF show, and what a
tool reads; its sections are keyed by SOC 2 criterion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit import __version__
from agentaudit.evidence.formats import iso_us
from agentaudit.report import access, changes, detection, integrity
from agentaudit.report.sample import Sample, take_sample
from agentaudit.report.scope import ReportScope
from agentaudit.settings import Settings

FORMAT = "agentaudit-soc2-report/v1"

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("cc6_1", "CC6.1", "Logical access: policy decisions by outcome"),
    ("cc6_2_3", "CC6.2 / CC6.3", "Agent credentials: inventory and key lifecycle"),
    ("cc7_2", "CC7.2", "Monitoring: detections"),
    ("cc7_3", "CC7.3", "Incident response: incidents and their timelines"),
    ("cc7_4", "CC7.4", "Containment"),
    ("cc8_1", "CC8.1", "Change management: changes and their approvers"),
    ("retention", "Retention", "Retention of audit records"),
    ("verification", "PI", "Verification of chains and seals"),
    ("completeness", "PI", "Completeness of the record"),
    ("access", "CC6.1", "Access to audit data through the query API"),
    ("sample", "Sampling", "Auditor sample: actions with their chain of custody"),
)
"""(key in report.json, criterion, heading): the order of the pack's sections."""

Progress = Callable[[str], None]


@dataclass
class Gathered:
    document: dict[str, Any]
    proofs: dict[str, dict[str, Any]]  # pack file name -> inclusion proof document


def gather(client: Client, settings: Settings, scope: ReportScope, *, sample_n: int, seed: int,
           public_keys_document: Mapping[str, Any], public_keys: Mapping[str, bytes], now_us: int,
           progress: Progress = lambda _: None) -> Gathered:
    progress("policy decisions (CC6.1)")
    decisions = access.policy_decisions(client, scope)
    progress("agent inventory and registry changes (CC6.2, CC6.3)")
    registry = access.registry_changes(client, scope)
    credentials = access.credentials(access.inventory(client, scope), registry)
    progress("detections (CC7.2)")
    detections = detection.detections(client, scope)
    progress("incidents (CC7.3)")
    incidents = detection.incidents(client, scope)
    progress("containment (CC7.4)")
    containment = detection.containment(client, scope, registry)
    progress("changes (CC8.1)")
    change = changes.change_management(registry, changes.versions(client, scope, "policy"),
                                       changes.versions(client, scope, "model"))
    progress("retention")
    retention = integrity.retention(client, settings, scope)
    agents = integrity.window_agents(client, scope)
    progress(f"verifying the chains and seals of {len(agents)} agents")
    verification = integrity.verification(client, settings, scope, agents, public_keys, now_us)
    progress("completeness")
    completeness = integrity.completeness(client, settings, scope)
    access_log = integrity.api_access(client, scope)
    progress(f"sampling {sample_n} actions with seed {seed}")
    sample: Sample = take_sample(client, settings, scope, sample_n, seed, public_keys_document)
    sections: dict[str, Any] = {
        "cc6_1": {**decisions, "sample_event_ids": [c["event_id"] for c in sample.chains]},
        "cc6_2_3": credentials,
        "cc7_2": detections,
        "cc7_3": incidents,
        "cc7_4": containment,
        "cc8_1": change,
        "retention": retention,
        "verification": verification,
        "completeness": completeness,
        "access": {"by_key": access_log},
        "sample": sample.section(),
    }
    for key, criterion, title in SECTIONS:
        sections[key] = {"criterion": criterion, "title": title, **sections[key]}
    document = {
        "format": FORMAT,
        "generator": {"name": "agentaudit", "version": __version__},
        "generated_at": iso_us(now_us),
        "window": scope.describe(),
        "database": scope.database,
        "sections": sections,
    }
    return Gathered(document, sample.proofs)
