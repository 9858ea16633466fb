"""`agentaudit api serve|keys|reads`: the query API, its keys and its access log from the terminal."""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import click

from agentaudit.settings import Settings

if TYPE_CHECKING:
    from agentaudit.api.keystore import KeyStore


def _operator() -> str:
    return f"cli:{getpass.getuser()}@{socket.gethostname()}"


@click.group("api")
def api() -> None:
    """The HTTP query API for analysts, auditors and admins: serve it, manage its keys, read its access log.

    \b
    First key (an admin's, while the API is not running on an embedded database):
      agentaudit api keys create --name ops-admin --role admin --tenant '*'
    then:
      agentaudit api serve
      curl -H "Authorization: Bearer aak_..." localhost:8480/v1/whoami
    """


@api.command("serve")
@click.option("--host", help="Listen address (default AGENTAUDIT_API_HOST).")
@click.option("--port", type=int, help="Port (default AGENTAUDIT_API_PORT).")
@click.pass_obj
def serve(settings: Settings, host: str | None, port: int | None) -> None:
    """Serve the query API (OpenAPI at /v1/openapi.json).

    Actions by time window and filters with cursor pages, one action's chain
    of custody with its inclusion proof, sessions, incidents (and their
    handling), agents with registry history, the access log and API keys.
    Every request needs an API key with a role (admin, analyst, auditor,
    agent) and a tenant scope; every request, answered or refused, is
    recorded in the access log.

    With the embedded database the API holds the folder (like the sink): run
    it against a ClickHouse server beside a running pipeline. It serves plain
    HTTP unless AGENTAUDIT_API_TLS_CERT/_KEY are set: put it behind TLS
    anywhere but a laptop. Stops on SIGTERM or Ctrl-C.
    """
    _serve(settings.with_changes(**{k: v for k, v in (("api_host", host), ("api_port", port)) if v is not None}))


def _serve(settings: Settings) -> None:
    import ssl

    from aiohttp import web

    from agentaudit import metrics
    from agentaudit.api.server import QueryApi, build_app
    from agentaudit.errors import AgentAuditError
    from agentaudit.incident.publish import publish_entry
    from agentaudit.keyring import local_public_keys_document

    try:
        keys_document = local_public_keys_document(settings)
    except AgentAuditError as exc:
        keys_document = None
        click.echo(f"api: no pipeline public keys ({exc}); traces will carry no inclusion proof", err=True)
    api_state = QueryApi(settings, settings.api_workers, keys_document, lambda entry: publish_entry(settings, entry))
    api_state.warm_up()
    tls = None
    if settings.api_tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(settings.api_tls_cert, settings.api_tls_key)
    metrics_port = metrics.serve(settings.metrics_port, settings.metrics_host)
    scheme = "https" if tls else "http"
    click.echo(f"api: listening on {scheme}://{settings.api_host}:{settings.api_port} "
               f"(OpenAPI at /v1/openapi.json), ClickHouse database {settings.clickhouse_database}, "
               + (f"metrics on port {metrics_port}" if metrics_port else "metrics off"), err=True)
    try:
        web.run_app(build_app(api_state), host=settings.api_host, port=settings.api_port, ssl_context=tls,
                    print=None, access_log=None, handle_signals=True)
    finally:
        api_state.close()
    click.echo("api: stopped", err=True)


@api.group("keys")
def keys_group() -> None:
    """API keys: create, list and revoke, directly in ClickHouse (admins with the API up: POST /v1/keys)."""


@keys_group.command("create")
@click.option("--name", required=True, help="Who or what holds the key (a person, a dashboard, a job).")
@click.option("--role", required=True, type=click.Choice(["admin", "analyst", "auditor", "agent"]),
              help="admin: keys and registry; analyst: read and handle incidents; auditor: read-only incl. the "
                   "access log; agent: emit only.")
@click.option("--tenant", "tenants", multiple=True, required=True, help="Tenant the key may see (repeatable); '*' for all.")
@click.option("--agent", "agent_id", default="", help="Agent keys: the agent it emits for.")
@click.option("--expires", help="When it stops working: ISO-8601 or relative like +90d.")
@click.option("--reason", default="", help="Why the key is issued (kept in its history).")
@click.pass_obj
def create(settings: Settings, name: str, role: str, tenants: tuple[str, ...], agent_id: str, expires: str | None,
           reason: str) -> None:
    """Issue a key and print it once; only its hash is stored."""
    from agentaudit.api.access import Role
    from agentaudit.query.timeparse import parse_time, to_micros

    expires_us = to_micros(parse_time(expires, datetime.now(UTC))) if expires else None
    with _store(settings) as store:
        state, presented = store.create(name, Role(role), tenants, _operator(), agent_id=agent_id,
                                        expires_us=expires_us, reason=reason)
    click.echo(f"key {state.key_id} for {name} ({role}, tenants {', '.join(state.tenants)}) — shown once, "
               "only its hash is stored:", err=True)
    click.echo(presented)


@keys_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per key.")
@click.pass_obj
def list_keys(settings: Settings, as_json: bool) -> None:
    """Every key with its state (never a secret)."""
    with _store(settings) as store:
        found = store.all(None)
    for key in found:
        doc = key.as_dict()
        if as_json:
            click.echo(json.dumps(doc))
        else:
            click.echo(f"{doc['key_id']}  {doc['status']:<8} {doc['role']:<8} {','.join(doc['tenants']):<20} "
                       f"{doc['name']}  (created {doc['created_at']} by {doc['created_by']})")


@keys_group.command("revoke")
@click.argument("key_id")
@click.option("--reason", required=True, help="Why (kept in the key's history).")
@click.pass_obj
def revoke(settings: Settings, key_id: str, reason: str) -> None:
    """Revoke a key; final, and refused from its next request on."""
    with _store(settings) as store:
        try:
            state = store.revoke(key_id, _operator(), reason)
        except KeyError:
            raise click.ClickException(f"no key {key_id}") from None
    click.echo(f"key {key_id} revoked at {state.as_dict()['revoked_at']} by {state.revoked_by}")


@api.command("reads")
@click.option("--since", default="-1d", show_default=True, help="Start of the window.")
@click.option("--until", default="now", show_default=True, help="End of the window.")
@click.option("--key", "key_ids", multiple=True, help="Only requests made with this key id (repeatable).")
@click.option("--refused", is_flag=True, help="Only refused requests.")
@click.option("--limit", default=100, show_default=True)
@click.pass_obj
def reads_command(settings: Settings, since: str, until: str, key_ids: tuple[str, ...], refused: bool,
                  limit: int) -> None:
    """The access log: who queried what through the API, and when (JSON lines, newest first)."""
    from agentaudit.api.reads import list_reads
    from agentaudit.api.server import jsonable
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect

    now = datetime.now(UTC)
    client = connect(settings)
    try:
        rows = list_reads(client, settings.clickhouse_database, parse_time(since, now), parse_time(until, now),
                          None, key_ids, (), refused, limit)
    finally:
        client.close()
    for row in rows:
        click.echo(json.dumps(jsonable(row)))


@contextmanager
def _store(settings: Settings) -> Iterator[KeyStore]:
    from agentaudit.api.keystore import KeyStore
    from agentaudit.store import connect

    client = connect(settings)
    try:
        yield KeyStore(client, settings.clickhouse_database)
    finally:
        client.close()
