"""`agentaudit dsar find|erase`: data-subject requests, each one logged on privacy.requests."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import Settings


@click.group("dsar")
def dsar() -> None:
    """Data-subject requests: find a person's records, erase their encrypted data.

    The subject is named as the privacy policy names it (by default the
    principal id of a user) within one tenant. Records are found by the
    keyed hash of the subject (audit_records.subject_ids); every request is
    logged, with who made it and why, on privacy.requests before it acts.
    """


F = TypeVar("F", bound=Callable[..., Any])


def _subject_options(f: F) -> F:
    """The options every request takes: whose data, who asks, and why."""
    f = click.option("--reason", required=True, help="Why, e.g. the request's ticket (logged).")(f)
    f = click.option("--actor", required=True, help="Who makes this request (logged).")(f)
    f = click.option("--subject", required=True, help="The subject's id, e.g. the user's principal id.")(f)
    return click.option("--tenant", required=True,
                        help="Tenant the subject belongs to (hashes and keys are per tenant).")(f)


@dsar.command("find")
@_subject_options
@click.option("--since", default=None, help=f"Start of the window on ingest time, inclusive: {TIME_HELP}; default: all.")
@click.option("--until", default="now", show_default=True, help="End of the window, exclusive (same forms).")
@click.pass_obj
def find_command(settings: Settings, tenant: str, subject: str, actor: str, reason: str, since: str | None,
                 until: str) -> None:
    """Print the subject's records, one JSON object per line, encrypted fields decrypted.

    Fields whose key was erased read "[erased on … by …]"; hashed and masked
    fields stay as stored. Needs the KEK.
    """
    from agentaudit.codec import load_schemas
    from agentaudit.crypto import load_kek
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.evidence.export import registry_resolver
    from agentaudit.evidence.values import ValueReader
    from agentaudit.privacy.dsar import find, subject_ref
    from agentaudit.privacy.requests import DsarRequest
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect
    from agentaudit.verify.run import EPOCH

    now = datetime.now(UTC)
    since_at = parse_time(since, now) if since else EPOCH
    until_at = parse_time(until, now)
    kek = load_kek(settings)
    request = DsarRequest("find", tenant, subject_ref(kek, tenant, subject), actor, reason,
                          since_us=int(since_at.timestamp() * 1e6), until_us=int(until_at.timestamp() * 1e6))
    reader = ValueReader(load_schemas(), resolve=registry_resolver(settings))
    client = connect(settings)
    count = unreadable = 0
    try:
        for found in find(settings, resolve_bootstrap(settings), client, reader, kek, request, since_at, until_at):
            count += 1
            unreadable += bool(found.unreadable)
            click.echo(json.dumps({
                "event_id": found.event_id, "agent_id": found.agent_id, "chain_position": found.position,
                "ingest_time": datetime.fromtimestamp(found.ingest_us / 1e6, UTC).isoformat(),
                "action": found.action, "redaction": found.redaction, "unreadable": list(found.unreadable),
            }, default=lambda b: b.hex() if isinstance(b, bytes) else str(b), ensure_ascii=False))
    finally:
        client.close()
    click.echo(f"{count} records of subject {request.subject_ref} in tenant {tenant} ({unreadable} with erased "
               f"fields); request {request.request_id} logged", err=True)


@dsar.command("erase")
@_subject_options
@click.option("--approver", required=True, help="Who approved the erasure; never the actor (logged).")
@click.pass_obj
def erase_command(settings: Settings, tenant: str, subject: str, actor: str, reason: str, approver: str) -> None:
    """Erase the subject: delete their keys, so their encrypted fields can never be read again.

    The records stay, and every chain still verifies (it covers the
    ciphertext). Logged before anything is deleted; refused when the approver
    is the actor.
    """
    from agentaudit.crypto import load_kek
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.privacy.dsar import erase, subject_ref
    from agentaudit.privacy.requests import DsarRefusal, DsarRequest

    kek = load_kek(settings)
    request = DsarRequest("erase", tenant, subject_ref(kek, tenant, subject), actor, reason, approver=approver)
    try:
        erased = erase(settings, resolve_bootstrap(settings), kek, request)
    except DsarRefusal as refusal:
        click.echo(f"refused: {refusal}", err=True)
        sys.exit(3)
    click.echo(f"erased {len(erased)} key(s) of subject {request.subject_ref} in tenant {tenant} "
               f"({', '.join(erased) or 'none left'}); request {request.request_id} logged")
