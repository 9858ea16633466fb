"""Answers the API gives besides the actions list: one action's trace, a session, agents.

Every function takes the caller's tenant scope (None: every tenant) and
applies it in SQL, so an object of another tenant reads exactly like one that
does not exist (NotFound): a key learns nothing about tenants it cannot see.
"""

from __future__ import annotations

import json
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.store.client import translate_errors

_SCOPE = "({tenants:Array(String)} = [] OR tenant_id IN {tenants:Array(String)})"

TRACE_COLUMNS: tuple[str, ...] = (
    "event_id", "tenant_id", "agent_id", "session_id", "sequence", "principal_type", "principal_id",
    "action_type", "tool", "resource", "parameters", "outcome", "error_code", "error_message",
    "policy_decision", "policy_id", "policy_version", "policy_reason",
    "approver_type", "approver_id", "approval_decision", "approval_decided_at", "approval_id",
    "model_provider", "model_name", "model_version", "input_tokens", "output_tokens", "cost_micros", "currency",
    "agent_time", "ingest_time", "correlation_id", "parent_event_id", "attributes", "key_id", "clock_skew_ms",
    "source_topic", "source_partition", "source_offset",
    "chain_position", "chain_prev_hash", "chain_hash", "risk_score", "rule_hits",
)  # fmt: skip
_MICROS = ("approval_decided_at", "agent_time", "ingest_time")
_HEX = ("chain_prev_hash", "chain_hash")


class NotFound(Exception):
    """Nothing by that id within the caller's tenants (HTTP 404)."""


def scope_param(tenants: tuple[str, ...] | None) -> list[str]:
    """The {tenants} parameter: [] stands for every tenant (only a '*' key gets it)."""
    return [] if tenants is None else list(tenants)


def _select(columns: tuple[str, ...]) -> str:
    def one(c: str) -> str:
        if c in _MICROS:
            return f"toUnixTimestamp64Micro({c})"
        if c in _HEX:
            return f"lower(hex({c}))"
        return c
    return ", ".join(one(c) for c in columns)


def action(client: Client, database: str, event_id: str, tenants: tuple[str, ...] | None) -> dict[str, Any]:
    """The stored record of one action, every column (times in microseconds, hashes in hex)."""
    sql = (f"SELECT {_select(TRACE_COLUMNS)} FROM {{database:Identifier}}.audit_records "
           f"WHERE event_id = {{event_id:String}} AND {_SCOPE} ORDER BY chain_position LIMIT 1")
    with translate_errors("reading the action"):
        rows = client.query(sql, parameters={"database": database, "event_id": event_id,
                                             "tenants": scope_param(tenants)}).result_rows
    if not rows:
        raise NotFound(f"no action with event id {event_id} in your tenants")
    row = dict(zip(TRACE_COLUMNS, rows[0], strict=True))
    # clickhouse-connect returns a named Tuple as a dict (by element name), not a tuple
    row["rule_hits"] = [dict(zip(("rule_id", "severity", "reason"), h.values() if isinstance(h, dict) else h,
                                 strict=True)) for h in row["rule_hits"]]
    return row


def related(client: Client, database: str, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The other actions of the same request: same agent and correlation id, or parent/child of this one.

    An agent records the policy decision and the approval that allowed an
    action as actions of their own (action types policy_decision and approval)
    under the request's correlation id; they are what ties "who allowed it" to
    "what was done".
    """
    conditions = ["parent_event_id = {event_id:String}", "event_id = {parent:String}"]
    if row["correlation_id"]:
        conditions.append("correlation_id = {correlation:String}")
    sql = (
        "SELECT event_id, toUnixTimestamp64Micro(ingest_time), action_type, tool, resource, outcome, "
        "policy_decision, policy_id, approver_id, approval_decision, chain_position "
        "FROM {database:Identifier}.audit_records "
        f"WHERE tenant_id = {{tenant:String}} AND agent_id = {{agent:String}} AND event_id != {{event_id:String}} "
        f"AND ({' OR '.join(conditions)}) ORDER BY ingest_time LIMIT 100"
    )
    names = ("event_id", "ingest_time", "action_type", "tool", "resource", "outcome", "policy_decision",
             "policy_id", "approver_id", "approval_decision", "chain_position")
    params = {"database": database, "tenant": row["tenant_id"], "agent": row["agent_id"],
              "event_id": row["event_id"], "parent": row["parent_event_id"], "correlation": row["correlation_id"]}
    with translate_errors("reading related actions"):
        rows = client.query(sql, parameters=params).result_rows
    return [dict(zip(names, values, strict=True)) for values in rows]


def incident_ids_of(client: Client, database: str, tenant: str, event_id: str) -> list[str]:
    sql = ("SELECT DISTINCT incident_id FROM {database:Identifier}.audit_incidents "
           "WHERE tenant_id = {tenant:String} AND has(event_ids, {event_id:String}) ORDER BY incident_id")
    with translate_errors("finding the action's incidents"):
        rows = client.query(sql, parameters={"database": database, "tenant": tenant, "event_id": event_id})
    return [r[0] for r in rows.result_rows]


_REGISTRY_COLUMNS = ("position", "change_id", "kind", "agent_id", "tenant_id", "agent_version", "status",
                     "valid_from", "actor", "approver", "reason", "definition", "key_ids")


def _registry_rows(client: Client, database: str, where: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    sql = (
        "SELECT position, change_id, kind, agent_id, tenant_id, agent_version, status, "
        "toUnixTimestamp64Micro(valid_from), actor, approver, reason, definition, key_ids "
        f"FROM {{database:Identifier}}.agent_registry WHERE {where} "
        "ORDER BY position LIMIT 1 BY position"
    )
    with translate_errors("reading the agent registry"):
        rows = client.query(sql, parameters={"database": database, **params}).result_rows
    out = []
    for values in rows:
        entry = dict(zip(_REGISTRY_COLUMNS, values, strict=True))
        entry["definition"] = _public_definition(json.loads(entry["definition"]))
        out.append(entry)
    return out


def _public_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition without HMAC key material: sealed as it is, a secret has no reader here."""
    for key in definition.get("keys", []):
        if key.get("algorithm") != "ed25519":
            key.pop("material", None)
    return definition


def registry_entry_at(client: Client, database: str, tenant: str, agent_id: str, at_us: int) -> dict[str, Any] | None:
    """The agent's registry entry in effect at `at_us` (None if it was not registered then)."""
    rows = _registry_rows(
        client, database,
        "tenant_id = {tenant:String} AND agent_id = {agent:String} "
        "AND valid_from <= fromUnixTimestamp64Micro({at_us:Int64}, 'UTC')",
        {"tenant": tenant, "agent": agent_id, "at_us": at_us},
    )
    return rows[-1] if rows else None


def agent_history(client: Client, database: str, agent_id: str, tenants: tuple[str, ...] | None) -> list[dict[str, Any]]:
    rows = _registry_rows(client, database, f"agent_id = {{agent:String}} AND {_SCOPE}",
                          {"agent": agent_id, "tenants": scope_param(tenants)})
    if not rows:
        raise NotFound(f"no agent {agent_id} in your tenants")
    return rows


AGENT_COLUMNS = ("agent_id", "tenant_id", "status", "agent_version", "valid_from", "name", "owner", "environment",
                 "key_ids", "registered_at", "changes")


def agents(client: Client, database: str, tenants: tuple[str, ...] | None, status: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every agent's current state (its newest registry entry)."""
    having = " HAVING status IN {status:Array(String)}" if status else ""
    sql = (
        "SELECT agent_id, tenant_id, argMax(status, position) AS status, max(agent_version), "
        "toUnixTimestamp64Micro(max(valid_from)), "
        "JSONExtractString(argMax(definition, position), 'name'), JSONExtractString(argMax(definition, position), 'owner'), "
        "JSONExtractString(argMax(definition, position), 'environment'), argMax(key_ids, position), "
        "toUnixTimestamp64Micro(min(valid_from)), uniqExact(position) "
        f"FROM {{database:Identifier}}.agent_registry WHERE {_SCOPE} "
        f"GROUP BY tenant_id, agent_id{having} ORDER BY tenant_id, agent_id"
    )
    params: dict[str, Any] = {"database": database, "tenants": scope_param(tenants), "status": list(status)}
    with translate_errors("listing agents"):
        rows = client.query(sql, parameters=params).result_rows
    return [dict(zip(AGENT_COLUMNS, values, strict=True)) for values in rows]


SESSION_COLUMNS = ("event_id", "sequence", "ingest_time", "agent_time", "principal_type", "principal_id",
                   "action_type", "tool", "resource", "outcome", "policy_decision", "risk_score", "chain_position")


def session(client: Client, database: str, session_id: str, tenants: tuple[str, ...] | None,
            limit: int) -> dict[str, Any]:
    """One session's actions in time order, with each agent's completeness in it.

    Sequence numbers count per agent and session, so completeness (numbers
    never seen, numbers seen twice) is judged per agent: several agents may
    work in one session, each numbering its own actions.
    """
    sql = (
        "SELECT tenant_id, agent_id, event_id, sequence, toUnixTimestamp64Micro(ingest_time), "
        "toUnixTimestamp64Micro(agent_time), principal_type, principal_id, action_type, tool, resource, outcome, "
        "policy_decision, risk_score, chain_position FROM {database:Identifier}.audit_records "
        f"WHERE session_id = {{session:String}} AND {_SCOPE} ORDER BY ingest_time, event_id LIMIT {{limit:UInt32}}"
    )
    params = {"database": database, "session": session_id, "tenants": scope_param(tenants), "limit": limit}
    with translate_errors("reading the session"):
        rows = client.query(sql, parameters=params).result_rows
    if not rows:
        raise NotFound(f"no session {session_id} in your tenants")
    sequences: dict[tuple[str, str], list[int]] = {}
    actions = []
    for r in rows:
        sequences.setdefault((r[0], r[1]), []).append(int(r[3]))
        actions.append({"agent_id": r[1], **dict(zip(SESSION_COLUMNS, r[2:], strict=True))})
    agents = []
    for (tenant, agent), seen in sorted(sequences.items()):
        distinct = set(seen)
        missing = [n for n in range(min(seen), max(seen) + 1) if n not in distinct]
        agents.append({"tenant_id": tenant, "agent_id": agent, "first_sequence": min(seen),
                       "last_sequence": max(seen), "stored": len(seen), "missing": len(missing),
                       "missing_sequences": missing[:1000], "duplicates": len(seen) - len(distinct)})
    return {"session_id": session_id, "agents": agents, "stored": len(actions),
            "truncated": len(actions) == limit, "actions": actions}
