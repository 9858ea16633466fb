"""Every endpoint of the query API, declared once: path, permission, parameters, handler, documentation.

Handlers are plain functions run on the API's database thread: (context,
parsed parameters, JSON body) -> Answer. They never read tenants from the
request except through Caller.scope, which refuses tenants outside the key.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.api import actions, reads, trace, views
from agentaudit.api.access import AccessDenied, Caller, Permission, Role
from agentaudit.api.keystore import KeyStore
from agentaudit.api.params import BadRequest, Param
from agentaudit.incident.lifecycle import STATUSES
from agentaudit.settings import Settings
from agentaudit.severity import SEVERITIES


@dataclass
class Context:
    """What a handler may use: the database, the settings, the caller, and the side effects it is allowed."""

    client: Client
    settings: Settings
    caller: Caller
    public_keys_document: Mapping[str, Any] | None
    publish_incident_entry: Callable[[dict[str, Any]], None]
    deliver_action: Callable[[str, str, bytes], Any]  # (agent id, event id, bytes) -> ingest.Delivered
    raw_body: bytes = b""

    @property
    def database(self) -> str:
        return self.settings.clickhouse_database


@dataclass
class Answer:
    body: Any
    rows: int = 0  # items returned, for the access log


Handler = Callable[[Context, dict[str, Any], dict[str, Any]], Answer]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    summary: str
    description: str
    permission: Permission | None  # None: any valid key
    handler: Handler
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # JSON schema of the request body
    tag: str = "audit"
    status: int = 200  # of a successful answer
    raw_body: bool = False  # the body is bytes (an Avro action), not JSON


# --- parameters shared by several routes --------------------------------------------------------------------------
SINCE = Param("since", "Start of the window on ingest time (the pipeline's clock), inclusive.", kind="time",
              required=True)
UNTIL = Param("until", "End of the window, exclusive; default now.", kind="time", default="now")
TENANT = Param("tenant", "Tenant id; repeat for any of several. Default: every tenant of your key.", repeated=True)
AGENT = Param("agent", "Agent id; repeatable.", repeated=True)
LIMIT = Param("limit", "Most items in the answer.", kind="integer", minimum=1, maximum=actions.MAX_PAGE, default=100)


def _window(args: dict[str, Any]) -> tuple[datetime, datetime]:
    until = args["until"] if isinstance(args["until"], datetime) else datetime.now(UTC)
    if args["since"] >= until:
        raise BadRequest(f"since ({args['since'].isoformat()}) must be before until ({until.isoformat()})")
    return args["since"], until


# --- actions --------------------------------------------------------------------------------------------------------
_ACTION_FILTERS = {"tenant": "tenant", "agent": "agent", "principal": "principal", "action_type": "action",
                   "outcome": "outcome", "tool": "tool", "resource": "resource", "decision": "decision",
                   "session": "session"}


def list_actions(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    since, until = _window(args)
    values = {column: tuple(args[name]) for name, column in _ACTION_FILTERS.items() if args[name]}
    scope = ctx.caller.scope(tuple(args["tenant"]))
    if scope is not None:
        values["tenant"] = scope
    query = actions.ActionQuery(
        since, until, values, resource_prefix=args["resource_prefix"] or "", risk_min=args["risk_min"],
        risk_max=args["risk_max"], limit=args["limit"], oldest_first=args["order"] == "oldest",
        cursor=args["cursor"] or "",
    )
    rows, cursor, cut = actions.page(ctx.client, ctx.database, query)
    return Answer({"items": rows, "next_cursor": cursor, "since": cut.since, "until": cut.until}, rows=len(rows))


def get_trace(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    found = trace.trace(ctx.client, ctx.settings, args["event_id"], ctx.caller.scope(),
                        ctx.public_keys_document)
    return Answer(found, rows=1)


def get_session(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    found = views.session(ctx.client, ctx.database, args["session_id"], ctx.caller.scope(), args["limit"])
    return Answer(found, rows=len(found["actions"]))


# --- incidents ------------------------------------------------------------------------------------------------------
def list_incidents(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    from agentaudit.incident.queries import IncidentFilter
    from agentaudit.incident.queries import list_incidents as query

    since, until = _window(args)
    scope = ctx.caller.scope(tuple(args["tenant"]))
    found = query(ctx.client, ctx.database, IncidentFilter(
        since, until, tenants=scope or (), agents=tuple(args["agent"]), statuses=tuple(args["status"]),
        min_severity=args["min_severity"], limit=args["limit"]))
    items = [c.__dict__ for c in found]
    return Answer({"items": items, "since": since, "until": until}, rows=len(items))


def _incident_in_scope(ctx: Context, incident_id: str) -> Any:
    from agentaudit.incident.queries import incident_state

    current = incident_state(ctx.client, ctx.database, incident_id)
    if current is None or not ctx.caller.may_see(current.tenant_id):
        raise views.NotFound(f"no incident {incident_id} in your tenants")
    return current


def get_incident(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    from agentaudit.incident.queries import timeline

    current = _incident_in_scope(ctx, args["incident_id"])
    entries = timeline(ctx.client, ctx.database, args["incident_id"])
    return Answer({**current.__dict__, "timeline": entries}, rows=1)


def _lifecycle(change: str) -> Handler:
    def handle(ctx: Context, args: dict[str, Any], body: dict[str, Any]) -> Answer:
        from agentaudit.incident.lifecycle import lifecycle_entry

        current = _incident_in_scope(ctx, args["incident_id"])
        # The actor is the authenticated key, never a name the request gives.
        entry = lifecycle_entry(current, change, ctx.caller.label, body.get("note"), body.get("owner"),
                                time.time_ns() // 1000)
        ctx.publish_incident_entry(entry)
        return Answer({"incident_id": current.incident_id, "version": entry["version"], "change": change,
                       "status": entry["status"], "actor": entry["actor"]}, rows=1)
    return handle


_LIFECYCLE_BODY = {
    "type": "object", "additionalProperties": False,
    "properties": {"note": {"type": "string", "maxLength": 4000, "description": "What was found or done."},
                   "owner": {"type": "string", "maxLength": 256, "description": "Who owns the incident from now on."}},
}


# --- agents ---------------------------------------------------------------------------------------------------------
def list_agents(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    found = views.agents(ctx.client, ctx.database, ctx.caller.scope(tuple(args["tenant"])), tuple(args["status"]))
    return Answer({"items": found}, rows=len(found))


def get_agent(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    history = views.agent_history(ctx.client, ctx.database, args["agent_id"], ctx.caller.scope())
    latest = history[-1]
    return Answer({"agent_id": args["agent_id"], "tenant_id": latest["tenant_id"], "status": latest["status"],
                   "version": latest["agent_version"], "definition": latest["definition"], "history": history},
                  rows=len(history))


# --- access log -----------------------------------------------------------------------------------------------------
def list_reads(ctx: Context, args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    since, until = _window(args)
    found = reads.list_reads(ctx.client, ctx.database, since, until, ctx.caller.scope(), tuple(args["key"]),
                             tuple(args["route"]), bool(args["refused"]), args["limit"])
    return Answer({"items": found, "since": since, "until": until}, rows=len(found))


# --- keys -----------------------------------------------------------------------------------------------------------
def list_keys(ctx: Context, _args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    found = [k.as_dict() for k in KeyStore(ctx.client, ctx.database).all(ctx.caller.scope())]
    return Answer({"items": found}, rows=len(found))


def create_key(ctx: Context, _args: dict[str, Any], body: dict[str, Any]) -> Answer:
    try:
        role = Role(str(body.get("role")))
    except ValueError:
        raise BadRequest(f"role must be one of {', '.join(r.value for r in Role)}") from None
    tenants = tuple(body.get("tenants") or ())
    ctx.caller.may_grant(tenants)
    expires = body.get("expires_at")
    expires_us = None
    if expires:
        from agentaudit.query.timeparse import parse_time, to_micros
        expires_us = to_micros(parse_time(str(expires), datetime.now(UTC)))
    state, presented = KeyStore(ctx.client, ctx.database).create(
        str(body.get("name") or ""), role, tenants, ctx.caller.label, agent_id=str(body.get("agent_id") or ""),
        expires_us=expires_us, reason=str(body.get("reason") or ""))
    return Answer({**state.as_dict(), "key": presented,
                   "note": "the key is shown once; only its hash is stored"}, rows=1)


def revoke_key(ctx: Context, args: dict[str, Any], body: dict[str, Any]) -> Answer:
    store = KeyStore(ctx.client, ctx.database)
    state = store.get(args["key_id"])
    scope = ctx.caller.scope()
    if state is None or (scope is not None and not set(state.tenants) <= set(scope)):
        raise views.NotFound(f"no key {args['key_id']} in your tenants")
    if state.key_id == ctx.caller.key_id:
        raise AccessDenied("a key cannot revoke itself; ask another admin")
    revoked = store.revoke(state.key_id, ctx.caller.label, str(body.get("reason") or ""))
    return Answer(revoked.as_dict(), rows=1)


_KEY_BODY = {
    "type": "object", "additionalProperties": False, "required": ["name", "role", "tenants"],
    "properties": {
        "name": {"type": "string", "maxLength": 256, "description": "Who or what holds the key."},
        "role": {"type": "string", "enum": [r.value for r in Role]},
        "tenants": {"type": "array", "items": {"type": "string", "maxLength": 256}, "minItems": 1,
                    "description": "Tenants the key may see (within your own); ['*'] for every tenant."},
        "agent_id": {"type": "string", "maxLength": 256, "description": "Agent keys: the agent it emits for."},
        "expires_at": {"type": "string", "description": "When the key stops working (ISO-8601 or +90d)."},
        "reason": {"type": "string", "maxLength": 4000},
    },
}
_REVOKE_BODY = {
    "type": "object", "additionalProperties": False, "required": ["reason"],
    "properties": {"reason": {"type": "string", "maxLength": 4000, "description": "Why the key is revoked."}},
}


def emit_action(ctx: Context, _args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    from agentaudit.api.ingest import check_sender
    from agentaudit.codec.factory import make_codec

    agent, event_id = check_sender(ctx.caller, make_codec(ctx.settings), ctx.raw_body)
    delivered = ctx.deliver_action(agent, event_id, ctx.raw_body)
    return Answer({"event_id": delivered.event_id, "topic": delivered.topic, "partition": delivered.partition,
                   "offset": delivered.offset}, rows=1)


def whoami(ctx: Context, _args: dict[str, Any], _body: dict[str, Any]) -> Answer:
    from agentaudit.api.access import GRANTS

    c = ctx.caller
    return Answer({"key_id": c.key_id, "name": c.name, "role": c.role.value, "tenants": list(c.tenants),
                   "agent_id": c.agent_id or None, "permissions": sorted(p.value for p in GRANTS[c.role])})


ROUTES: tuple[Route, ...] = (
    Route("GET", "/v1/whoami", "The key you are using", "Its role, tenant scope and permissions.",
          None, whoami, tag="access"),
    Route("GET", "/v1/actions", "Search actions",
          "Accepted actions in a time window on ingest time (required), newest first, narrowed by any of the "
          "filters (each repeatable: any of the values). Pages of `limit` items; pass `next_cursor` back as "
          "`cursor` for the next page, with the same filters: the cursor carries the first page's window, so "
          "a relative window (`-1h`) does not move under a listing.",
          Permission.READ_ACTIONS, list_actions, (
              SINCE, UNTIL, TENANT, AGENT,
              Param("principal", "Principal id the agent acted for.", repeated=True),
              Param("action_type", "llm_call, tool_call, data_read, data_write, ...", repeated=True),
              Param("outcome", "Outcome.", repeated=True,
                    choices=("success", "failure", "denied", "pending", "unknown")),
              Param("tool", "Tool name.", repeated=True),
              Param("resource", "Resource, exactly.", repeated=True),
              Param("resource_prefix", "Resources starting with this."),
              Param("decision", "Policy decision.", repeated=True),
              Param("session", "Session id.", repeated=True),
              Param("risk_min", "Lowest risk score (0-100).", kind="integer", minimum=0, maximum=100),
              Param("risk_max", "Highest risk score (0-100).", kind="integer", minimum=0, maximum=100),
              Param("order", "newest (default) or oldest first.", choices=("newest", "oldest"), default="newest"),
              LIMIT,
              Param("cursor", "next_cursor of the previous page."),
          )),
    Route("POST", "/v1/actions", "Emit an action (agent keys)",
          "The action exactly as the Emitter encodes it (Avro in the pipeline's encoding, signed with the agent's "
          "own key), as application/octet-stream. The key must be an agent key for the action's agent and tenant; "
          "the bytes go to agent.actions unchanged, and the processor validates and attributes them like any "
          "other (a bad signature ends in audit.rejected). Answers once the broker has the action.",
          Permission.EMIT, emit_action, body={"type": "string", "format": "binary"}, tag="ingest", status=202,
          raw_body=True),
    Route("GET", "/v1/actions/{event_id}/trace", "One action's chain of custody",
          "Principal, agent identity (the registry entry in effect and who approved it), policy decision, approval, "
          "execution, outcome, detection, related actions of the same request, incidents with their timelines, "
          "and the record's chain position, seal and RFC 6962 inclusion proof (verify offline with "
          "`agentaudit verify --proof`).",
          Permission.READ_ACTIONS, get_trace, (Param("event_id", "The action's event id.", where="path"),)),
    Route("GET", "/v1/sessions/{session_id}", "A session's timeline",
          "Every stored action of a session in sequence order, with the sequence numbers never seen (completeness).",
          Permission.READ_ACTIONS, get_session,
          (Param("session_id", "Session id.", where="path"),
           Param("limit", "Most actions.", kind="integer", minimum=1, maximum=100_000, default=10_000))),
    Route("GET", "/v1/incidents", "Search incidents",
          "Incidents with any timeline entry in the window, their current state, most recently changed first.",
          Permission.READ_INCIDENTS, list_incidents, (
              SINCE, UNTIL, TENANT, AGENT,
              Param("status", "Lifecycle state.", repeated=True, choices=STATUSES),
              Param("min_severity", "Lowest severity.", choices=SEVERITIES), LIMIT)),
    Route("GET", "/v1/incidents/{incident_id}", "An incident and its timeline",
          "Current state and every timeline entry, oldest first, each with its actor.",
          Permission.READ_INCIDENTS, get_incident, (Param("incident_id", "Incident id.", where="path"),)),
    *(Route("POST", f"/v1/incidents/{{incident_id}}/{verb}", f"{verb.capitalize()} an incident",
            f"Appends a '{change}' entry to the incident's timeline, with your key as its actor.",
            Permission.HANDLE_INCIDENTS, _lifecycle(change),
            (Param("incident_id", "Incident id.", where="path"),), body=_LIFECYCLE_BODY, tag="incidents", status=202)
      for verb, change in (("ack", "acknowledged"), ("contain", "contained"), ("resolve", "resolved"))),
    Route("GET", "/v1/agents", "Agents", "Every agent's current registry state.", Permission.READ_AGENTS,
          list_agents, (TENANT, Param("status", "Registry status.", repeated=True,
                                      choices=("active", "suspended", "retired")))),
    Route("GET", "/v1/agents/{agent_id}", "An agent and its registry history",
          "The current definition and every registry change, oldest first, with actor and approver.",
          Permission.READ_AGENTS, get_agent, (Param("agent_id", "Agent id.", where="path"),)),
    Route("GET", "/v1/reads", "The access log",
          "Every request this API answered or refused in the window: who, what, when, how many items.",
          Permission.READ_ACCESS_LOG, list_reads, (
              SINCE, UNTIL, Param("key", "Key id.", repeated=True), Param("route", "Route template.", repeated=True),
              Param("refused", "Only refused requests.", kind="boolean", default=False), LIMIT), tag="access"),
    Route("GET", "/v1/keys", "API keys", "Every key of your tenants, with its state (never a secret).",
          Permission.MANAGE_KEYS, list_keys, tag="access"),
    Route("POST", "/v1/keys", "Create an API key",
          "A new key with a role and tenant scope within yours. The key is in the answer once; only its hash is "
          "stored.", Permission.MANAGE_KEYS, create_key, body=_KEY_BODY, tag="access", status=201),
    Route("POST", "/v1/keys/{key_id}/revoke", "Revoke an API key",
          "Revocation is final and takes effect on the key's next request.", Permission.MANAGE_KEYS, revoke_key,
          (Param("key_id", "Key id.", where="path"),), body=_REVOKE_BODY, tag="access"),
)
