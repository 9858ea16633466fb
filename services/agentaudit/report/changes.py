"""CC8.1: changes with their approvers -- registry changes, and the policy and model versions agents used."""

from __future__ import annotations

from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.report.scope import RECORDS, RECORDS_WHERE, ReportScope, iso, rows

VERSION_LIMIT = 500  # (agent, version) lines listed; beyond that the section says it was cut


def versions(client: Client, scope: ReportScope, kind: str) -> list[dict[str, Any]]:
    """Policy (kind "policy") or model (kind "model") versions each agent acted under in the window, first seen first.

    Records carry them as the agent stated them; a version first seen in the
    window is a change an auditor may ask the approval for (it lives in the
    policy or model owner's change system, not in the audit trail).
    """
    columns, present = {
        "policy": ("policy_id, policy_version", "policy_id != ''"),
        "model": ("model_provider, model_name, model_version", "model_name != ''"),
    }[kind]
    names = ("tenant_id", "agent_id", *columns.split(", "), "first_seen", "last_seen", "actions")
    found = rows(client, (
        f"SELECT tenant_id, agent_id, {columns}, toUnixTimestamp64Micro(min(ingest_time)) AS first, "
        f"toUnixTimestamp64Micro(max(ingest_time)), count() FROM {RECORDS} WHERE {RECORDS_WHERE} AND {present} "
        f"GROUP BY tenant_id, agent_id, {columns} ORDER BY first, agent_id LIMIT {{limit:UInt32}}"
    ), scope.params(limit=VERSION_LIMIT + 1), f"reading {kind} versions")
    out = []
    for values in found[:VERSION_LIMIT]:
        line = dict(zip(names, values, strict=True))
        line["first_seen"], line["last_seen"] = iso(line["first_seen"]), iso(line["last_seen"])
        line["actions"] = int(line["actions"])
        out.append(line)
    return out


def change_management(registry: list[dict[str, Any]], policies: list[dict[str, Any]],
                      models: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: the CC8.1 section. Every registry change must name an approver other than its actor
    (the registry refuses anything else); the counts show that it held."""
    return {
        "registry_changes": registry,
        "without_approver": sum(1 for c in registry if not c["approver"]),
        "self_approved": sum(1 for c in registry if c["approver"] and c["approver"] == c["actor"]),
        "policy_versions": policies,
        "model_versions": models,
        "truncated": len(policies) >= VERSION_LIMIT or len(models) >= VERSION_LIMIT,
    }
