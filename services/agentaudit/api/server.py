"""The query API's HTTP server (aiohttp, already a dependency through faust).

Each request runs, whole, on a database thread: authenticate the key, check
the role, parse the parameters, answer, and record the request in the access
log, in that order, before the response is sent. A request that cannot be
recorded is not answered (503): no read of audit data goes unrecorded.

ClickHouse calls block, so they run in a thread pool with one client per
thread; the embedded engine (chDB) serves one folder per process through one
thread, a server through AGENTAUDIT_API_WORKERS threads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDict
from clickhouse_connect.driver.client import Client

from agentaudit import metrics
from agentaudit.api.access import AccessDenied, Caller
from agentaudit.api.ingest import ActionRelay
from agentaudit.api.keystore import KeyStore, Unauthenticated
from agentaudit.api.openapi import document
from agentaudit.api.params import BadRequest, parse_query
from agentaudit.api.reads import RECORDED_BODY_FIELDS, Read, record
from agentaudit.api.routes import ROUTES, Context, Route
from agentaudit.api.views import NotFound
from agentaudit.emit.ids import uuid7
from agentaudit.errors import AgentAuditError, ConfigError, TransientError
from agentaudit.evidence.formats import iso_us
from agentaudit.incident.lifecycle import LifecycleError
from agentaudit.query.timeparse import to_micros
from agentaudit.settings import Settings

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# aiohttp refuses request lines over 8 KiB with a plain-text 400 before any
# handler runs; the largest request the OpenAPI document allows (every
# repeatable filter at params.MAX_REPEATS values of params.MAX_VALUE_LENGTH
# characters, percent-encoded) must still reach the handlers.
HANDLER_ARGS = {"max_line_size": 1 << 20, "max_field_size": 16 * 1024}
# Read by the api account's row filters (deploy/clickhouse/users.d/agentaudit.xml).
ROW_POLICY_SETTING = "SQL_agentaudit_tenants"
# Integer microsecond values under these names are shown as ISO-8601 times.
TIME_FIELDS = frozenset({"ingest_time", "agent_time", "approval_decided_at", "decided_at", "valid_from",
                         "registered_at", "first_seen", "last_seen", "changed_at", "since", "until"})


def jsonable(value: Any, name: str = "") -> Any:
    """Plain JSON values: times as ISO-8601 UTC, bytes as hex."""
    if isinstance(value, dict):
        return {str(k): jsonable(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, name) for v in value]
    if isinstance(value, datetime):
        # chDB hands DateTime64('UTC') back naive (in UTC), a server aware
        return iso_us(to_micros(value if value.tzinfo else value.replace(tzinfo=UTC)))
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and name in TIME_FIELDS:
        return iso_us(value)
    return value


def _check_body(route: Route, body: Any) -> dict[str, Any]:
    """The body as a dict, checked against the route's schema's fields and types (the shape, not semantics)."""
    if route.body is None or route.raw_body:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    allowed = route.body["properties"]
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; fields: {', '.join(sorted(allowed))}")
    for name in route.body.get("required", []):
        if name not in body:
            raise BadRequest(f"{name} is required")
    for name, value in body.items():
        spec = allowed[name]
        if spec["type"] == "string" and not isinstance(value, str):
            raise BadRequest(f"{name} must be a string")
        if spec["type"] == "array" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise BadRequest(f"{name} must be a list of strings")
        if isinstance(value, str) and len(value) > spec.get("maxLength", 4000):
            raise BadRequest(f"{name} is longer than {spec.get('maxLength', 4000)} characters")
    return body


class QueryApi:
    """The API's state: settings, the database threads and their clients, the pipeline's public keys."""

    def __init__(self, settings: Settings, workers: int, public_keys_document: Mapping[str, Any] | None,
                 publish_incident_entry: Callable[[dict[str, Any]], None]) -> None:
        from agentaudit.store import connect

        self.settings = settings
        self._connect = connect
        embedded = settings.clickhouse_url.startswith("chdb://")
        self._pool = ThreadPoolExecutor(max_workers=1 if embedded else workers, thread_name_prefix="api-db")
        self._local = threading.local()
        self._clients: list[Client] = []
        self._lock = threading.Lock()
        self.public_keys_document = public_keys_document
        self.publish_incident_entry = publish_incident_entry
        self._relay: ActionRelay | None = None

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._connect(self.settings)
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def warm_up(self) -> None:
        """Open the database (and fail now, not on the first request, if it cannot be opened)."""
        self._pool.submit(self._client).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._relay is not None:
            self._relay.close()
            self._relay = None  # librdkafka lets go of the broker only when its producer is gone
        for client in self._clients:
            client.close()

    async def answer(self, route: Route, authorization: str, query: Any, path: Mapping[str, str], body: Any,
                     read: Read) -> tuple[int, Any]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.serve, route, authorization, query, path, body, read)

    # --- one request, on a database thread ----------------------------------------------------------------------
    def serve(self, route: Route, authorization: str, query: Any, path: Mapping[str, str], body: Any,
              read: Read) -> tuple[int, Any]:
        started = time.perf_counter()
        client = self._client()
        status, payload = 500, {"error": "internal error; see the API's log for request " + read.read_id}
        # What was asked, as sent, until it parses: a refused request is recorded with it too.
        read.query = {name: query.getall(name) for name in set(query.keys())}
        try:
            self._scope_rows(client, "")  # nothing, until a key says which tenants
            caller = self._authenticate(client, authorization)
            read.key_id, read.key_name, read.role, read.tenants = (caller.key_id, caller.name, caller.role.value,
                                                                   caller.tenants)
            self._scope_rows(client, ",".join(caller.tenants))
            if route.permission is not None:
                caller.require(route.permission)
            args = parse_query(route.params, query, path)
            fields = _check_body(route, body)
            read.query = jsonable({**{k: v for k, v in args.items() if v not in (None, ())},
                                   **{k: v for k, v in fields.items() if k in RECORDED_BODY_FIELDS}})
            context = Context(client, self.settings, caller, self.public_keys_document, self.publish_incident_entry,
                              self._deliver_action, body if isinstance(body, bytes) else b"")
            answer = route.handler(context, args, fields)
            status, payload, read.rows = route.status, answer.body, answer.rows
        except Unauthenticated as exc:
            status, payload = 401, {"error": str(exc)}
        except AccessDenied as exc:
            status, payload = 403, {"error": str(exc)}
        except NotFound as exc:
            status, payload = 404, {"error": str(exc)}
        except LifecycleError as exc:
            status, payload = 409, {"error": str(exc)}
        except (BadRequest, ConfigError) as exc:
            status, payload = 400, {"error": str(exc)}
        except TransientError as exc:
            status, payload = 503, {"error": f"temporarily unavailable: {exc}"}
        except AgentAuditError as exc:
            log.error("request %s %s failed: %s", read.read_id, read.path, exc)
        except Exception:
            log.exception("request %s %s failed", read.read_id, read.path)
        read.status = status
        read.error = payload.get("error", "") if isinstance(payload, dict) and status >= 400 else ""
        read.duration_ms = (time.perf_counter() - started) * 1000
        try:
            record(client, self.settings.clickhouse_database, read)
        except AgentAuditError as exc:
            log.error("request %s not recorded in the access log, so not answered: %s", read.read_id, exc)
            return 503, {"error": "the request could not be recorded in the access log, so it is not answered; "
                                  "retry later"}
        return status, payload

    def _deliver_action(self, agent_id: str, event_id: str, value: bytes) -> Any:
        """Hands an agent's action to agent.actions (the producer is made on first use: reads need no Kafka)."""
        from agentaudit.api.ingest import ActionRelay
        from agentaudit.dev.kafka import resolve_bootstrap

        with self._lock:
            if self._relay is None:
                self._relay = ActionRelay(self.settings, resolve_bootstrap(self.settings))
            relay = self._relay
        return relay.deliver(agent_id, event_id, value)

    def _scope_rows(self, client: Client, tenants: str) -> None:
        """The tenant scope the server's row filters apply to this client's next queries (api account).

        Set on the client, so it rides on every query the request makes,
        whichever module builds it; '' matches no tenant.
        """
        if self.settings.api_row_policies:
            client.set_client_setting(ROW_POLICY_SETTING, tenants)

    def _authenticate(self, client: Client, authorization: str) -> Caller:
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            raise Unauthenticated("no API key: send `Authorization: Bearer aak_...`")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("use the Bearer scheme: `Authorization: Bearer aak_...`")
        return KeyStore(client, self.settings.clickhouse_database).authenticate(token)


@web.middleware
async def _json_errors(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    """The router's own refusals (no such path, wrong method, body too large) as JSON errors too."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = "no such endpoint; see /v1/openapi.json" if exc.status == 404 else exc.reason
        return web.json_response({"error": text}, status=exc.status)


def build_app(api: QueryApi) -> web.Application:
    # Actions may be as large as the processor accepts; JSON bodies are checked field by field.
    app = web.Application(client_max_size=max(MAX_BODY_BYTES, api.settings.max_action_bytes),
                          middlewares=[_json_errors], handler_args=HANDLER_ARGS)
    spec = json.dumps(document(), indent=1)

    async def openapi(_request: web.Request) -> web.Response:
        return web.Response(text=spec, content_type="application/json")

    async def health(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/v1/openapi.json", openapi)
    app.router.add_get("/healthz", health)
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _handler(api, route))
    return app


def _handler(api: QueryApi, route: Route) -> Callable[[web.Request], Any]:
    async def handle(request: web.Request) -> web.Response:
        read = Read(read_id=uuid7(), at_us=time.time_ns() // 1000, method=request.method, path=request.path,
                    remote=request.remote or "", route=route.path)
        started = time.perf_counter()
        body: Any = None
        if route.raw_body:
            body = await request.read()
        elif route.body is not None:
            try:
                body = await request.json() if request.can_read_body else {}
            except (ValueError, UnicodeDecodeError):
                body = "not JSON"  # refused by _check_body, after authentication
        status, payload = await api.answer(route, request.headers.get("Authorization", ""), MultiDict(request.query),
                                           dict(request.match_info), body, read)
        metrics.API_REQUESTS.labels(route=route.path, status=str(status)).inc()
        metrics.API_LATENCY.labels(route=route.path).observe(time.perf_counter() - started)
        if isinstance(payload, dict) and status >= 400:
            payload["request_id"] = read.read_id
        headers = {"X-Request-Id": read.read_id, "Cache-Control": "no-store"}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="agentaudit"'
        return web.Response(text=json.dumps(jsonable(payload)), status=status, content_type="application/json",
                            headers=headers)
    return handle


@contextmanager
def serving(api: QueryApi, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The API on host:port (0: a free port) in a background thread until the block ends; yields its base URL.

    For a process that serves the API beside its own work (the demo, tests);
    `agentaudit api serve` runs it in the foreground instead.
    """
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(build_app(api))
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, host, port)
    loop.run_until_complete(site.start())
    bound = runner.addresses[0][1]
    thread = threading.Thread(target=loop.run_forever, name="api-http", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{bound}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
