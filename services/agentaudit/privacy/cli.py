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

EXIT_PENDING = 75  # sysexits.h EX_TEMPFAIL: the erasure is sent, the processor has not applied it yet


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
@click.option("--wait", "wait_s", type=click.FloatRange(min=0), default=60.0, show_default=True,
              help="Seconds to wait for the processor to erase the keys.")
@click.pass_obj
def erase_command(settings: Settings, tenant: str, subject: str, actor: str, reason: str, approver: str,
                  wait_s: float) -> None:
    """Erase the subject: delete their keys, so their encrypted fields can never be read again.

    The records stay, and every chain still verifies (it covers the
    ciphertext). Logged before anything is deleted; refused when the approver
    is the actor. The running processor erases the keys at this request's
    place in agent.actions (records after it use a new key); this waits until
    it has, and exits 75 if the wait runs out. Running it again is safe.
    Needs the KEK and the pipeline keyring (the request to the processor is
    signed).
    """
    from agentaudit.crypto import load_kek
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.keyring import Keyring
    from agentaudit.privacy.dsar import erase, subject_ref
    from agentaudit.privacy.requests import DsarRefusal, DsarRequest

    kek = load_kek(settings)
    keyring = Keyring.load(settings)
    request = DsarRequest("erase", tenant, subject_ref(kek, tenant, subject), actor, reason, approver=approver)
    shown = [-1]

    def progress(done: int, total: int) -> None:
        if done != shown[0]:
            shown[0] = done
            click.echo(f"waiting for the processor: {done} of {total} key(s) erased", err=True)

    try:
        erased = erase(settings, resolve_bootstrap(settings), kek, request, keyring, wait_s, progress)
    except DsarRefusal as refusal:
        click.echo(f"refused: {refusal}", err=True)
        sys.exit(3)
    if erased.pending:
        click.echo(f"erasure of subject {request.subject_ref} in tenant {tenant} sent (request {request.request_id} "
                   f"logged), but pending on partition(s) {', '.join(map(str, erased.pending_partitions))} after "
                   f"{wait_s:.0f}s: is the processor running, with the privacy policy? It erases the keys when it "
                   f"reads the request; running this erase again is safe.", err=True)
        sys.exit(EXIT_PENDING)
    click.echo(f"erased {len(erased.requested)} key(s) of subject {request.subject_ref} in tenant {tenant} "
               f"({', '.join(erased.requested) or 'none left'}); request {request.request_id} logged")
