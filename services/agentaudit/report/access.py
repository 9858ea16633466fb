"""CC6.1 (policy decisions by outcome) and CC6.2/CC6.3 (agent inventory, keys and their lifecycle)."""

from __future__ import annotations

import json
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.report.scope import RECORDS, RECORDS_WHERE, TENANT, ReportScope, iso, rows, window

# Outcomes that mean the action ran (well or badly), as opposed to being stopped or not finished.
EXECUTED = ("success", "failure")
NO_DECISION = "none"


def policy_decisions(client: Client, scope: ReportScope) -> dict[str, Any]:
    """Actions by policy decision × outcome, and the ones that ran although policy said no."""
    found = rows(client, (
        "SELECT policy_decision, outcome, count(), "
        "countIf(approval_decision != 'approved') "
        f"FROM {RECORDS} WHERE {RECORDS_WHERE} GROUP BY policy_decision, outcome "
        "ORDER BY policy_decision, outcome"
    ), scope.params(), "counting policy decisions")
    return decisions_summary(found)


def decisions_summary(found: list[tuple[Any, ...]]) -> dict[str, Any]:
    """Pure: (decision, outcome, actions, actions without an approval) rows → the CC6.1 figures."""
    matrix = [{"decision": d or NO_DECISION, "outcome": o, "actions": int(n)} for d, o, n, _ in found]
    by_decision: dict[str, int] = {}
    for cell in matrix:
        by_decision[cell["decision"]] = by_decision.get(cell["decision"], 0) + cell["actions"]
    return {
        "total": sum(by_decision.values()),
        "by_decision": by_decision,
        "matrix": matrix,
        "denied": sum(c["actions"] for c in matrix if c["outcome"] == "denied"),
        "executed_despite_deny": sum(int(n) for d, o, n, _ in found if d == "deny" and o in EXECUTED),
        # require_approval that ran without an approval saying "approved"
        "executed_without_approval": sum(int(unapproved) for d, o, _, unapproved in found
                                         if d == "require_approval" and o in EXECUTED),
    }


def inventory(client: Client, scope: ReportScope) -> list[dict[str, Any]]:
    """Every agent registered by the window's end, as its newest registry entry then defines it."""
    found = rows(client, (
        "SELECT tenant_id, agent_id, argMax(status, position), argMax(agent_version, position), "
        "toUnixTimestamp64Micro(min(valid_from)), toUnixTimestamp64Micro(max(valid_from)), "
        "argMax(definition, position), argMax(actor, position), argMax(approver, position), count() "
        "FROM (SELECT * FROM {database:Identifier}.agent_registry "
        f"WHERE {TENANT} AND valid_from < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC') "
        "LIMIT 1 BY position) GROUP BY tenant_id, agent_id ORDER BY tenant_id, agent_id"
    ), scope.params(), "reading the agent inventory")
    return [inventory_entry(*r) for r in found]


def inventory_entry(tenant: str, agent: str, status: str, version: int, registered_us: int, changed_us: int,
                    definition_json: str, actor: str, approver: str, changes: int) -> dict[str, Any]:
    """Pure: one agent's inventory line. Keys by id, algorithm and validity only: never key material
    (an HMAC secret is sealed, and a public key proves nothing to a reader of the report)."""
    definition = json.loads(definition_json)
    return {
        "tenant_id": tenant, "agent_id": agent, "name": definition.get("name"), "owner": definition.get("owner"),
        "environment": definition.get("environment"), "status": status, "version": int(version),
        "registered_at": iso(registered_us), "last_changed_at": iso(changed_us), "changes": int(changes),
        "last_change_actor": actor, "last_change_approver": approver,
        "principals": list(definition.get("principals", [])), "scope": definition.get("scope", {}),
        "keys": [{"key_id": k.get("key_id"), "algorithm": k.get("algorithm"),
                  "valid_from": iso(k.get("valid_from_us")), "valid_until": iso(k.get("valid_until_us"))}
                 for k in definition.get("keys", [])],
    }


def registry_changes(client: Client, scope: ReportScope) -> list[dict[str, Any]]:
    """Every registry change that took effect in the window, in registry order (CC6.2, CC7.4 and CC8.1 read it)."""
    names = ("position", "valid_from", "kind", "tenant_id", "agent_id", "agent_version", "status", "actor",
             "approver", "reason", "key_ids")
    found = rows(client, (
        "SELECT position, toUnixTimestamp64Micro(valid_from), kind, tenant_id, agent_id, agent_version, status, "
        "actor, approver, reason, key_ids FROM {database:Identifier}.agent_registry "
        f"WHERE {TENANT} AND {window('valid_from')} ORDER BY position LIMIT 1 BY position"
    ), scope.params(), "reading registry changes")
    out = []
    for values in found:
        change = dict(zip(names, values, strict=True))
        change["valid_from"] = iso(change["valid_from"])
        change["position"], change["agent_version"] = int(change["position"]), int(change["agent_version"])
        change["key_ids"] = list(change["key_ids"])
        out.append(change)
    return out


KEY_LIFECYCLE = ("register", "rotate_key", "suspend", "reactivate", "retire")


def credentials(inventory_: list[dict[str, Any]], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: the CC6.2/CC6.3 section from the inventory and the window's registry changes."""
    by_kind: dict[str, int] = {}
    for change in changes:
        by_kind[change["kind"]] = by_kind.get(change["kind"], 0) + 1
    by_status: dict[str, int] = {}
    for agent in inventory_:
        by_status[agent["status"]] = by_status.get(agent["status"], 0) + 1
    return {
        "agents": inventory_,
        "agents_by_status": by_status,
        "changes_by_kind": by_kind,
        "lifecycle": [c for c in changes if c["kind"] in KEY_LIFECYCLE],
    }
