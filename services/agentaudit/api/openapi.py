"""The OpenAPI 3.1 document of the query API, generated from the route declarations (agentaudit.api.routes).

Generated, not written by hand, so the document cannot drift from what the
server accepts: the parameters it lists are the ones the server parses, with
the same limits, and the permissions it names are the ones it enforces.
"""

from __future__ import annotations

from typing import Any

from agentaudit import __version__
from agentaudit.api.access import GRANTS
from agentaudit.api.routes import ROUTES, Route

_ERROR = {"$ref": "#/components/schemas/Error"}
_REFUSALS = {
    "400": "The parameters are wrong (unknown parameter, bad value, missing window); `error` says which.",
    "401": "No key, a malformed, unknown, revoked or expired key; `error` says which.",
    "403": "The key's role or tenant scope does not allow this; `error` says why.",
    "503": "ClickHouse (or Kafka, for incident changes) is unavailable; retry later.",
}


def _roles(route: Route) -> str:
    if route.permission is None:
        return "any valid key"
    return ", ".join(sorted(r.value for r, grants in GRANTS.items() if route.permission in grants))


def _operation(route: Route) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(route.status): {"description": "The answer.",
                            "content": {"application/json": {"schema": {"type": "object"}}}},
    }
    for status, text in _REFUSALS.items():
        responses[status] = {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    if "{" in route.path:
        responses["404"] = {"description": "Nothing by that id within your key's tenants.",
                            "content": {"application/json": {"schema": _ERROR}}}
    operation: dict[str, Any] = {
        "operationId": (route.method.lower() + route.path.replace("/v1", "").replace("/", "_")
                        .replace("{", "").replace("}", "")),
        "summary": route.summary,
        "description": f"{route.description}\n\nAllowed roles: {_roles(route)}. Recorded in the access log.",
        "tags": [route.tag],
        "parameters": [
            {"name": p.name, "in": p.where, "required": p.required or p.where == "path", "description": p.doc,
             "schema": p.schema(), **({"explode": True} if p.repeated else {})}
            for p in route.params
        ],
        "responses": responses,
        "security": [{"apiKey": []}],
    }
    if route.body is not None:
        kind = "application/octet-stream" if route.raw_body else "application/json"
        operation["requestBody"] = {"required": True, "content": {kind: {"schema": route.body}}}
    return operation


def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "agentaudit query API",
            "version": __version__,
            "description": (
                "Audit data of AI agents for analysts, auditors and admins. Every request needs an API key "
                "(`Authorization: Bearer aak_...`); each key has one role (admin, analyst, auditor, agent) and a "
                "tenant scope, and every request, answered or refused, is recorded in the access log "
                "(GET /v1/reads). Times are ingest times, the pipeline's clock, as ISO-8601 UTC."
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "aak_<id>_<secret>"}},
            "schemas": {"Error": {
                "type": "object", "required": ["error", "request_id"],
                "properties": {"error": {"type": "string"}, "request_id": {"type": "string"}},
            }},
        },
    }
