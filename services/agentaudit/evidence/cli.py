"""`agentaudit export` and `agentaudit prove`, and the offline half of `agentaudit verify`.

Importing this module loads no database or Kafka client: export and prove
import theirs when they run, and verify_bundle_or_proof never does.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import Settings
from agentaudit.textfile import write_text

if TYPE_CHECKING:
    from agentaudit.evidence.export import ExportResult

TRUST_NOTE = ("note: checked against the public keys inside the {what}, which shows only that it is "
              "self-consistent; pass --public-keys with the keys you were given to show the pipeline signed it")


@click.command("export")
@click.option("--since", help=f"Start of the range, as for `verify --since`: {TIME_HELP}. Default: the "
                              "beginning of every chain.")
@click.option("--until", help="End of the range, as for `verify --until` (also the horizon for missing seals).")
@click.option("--agent", "agents", multiple=True, help="Only this agent's chain (repeatable).")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the bundle into: new, or empty (anything in it is refused).")
@click.pass_obj
def export_command(
    settings: Settings, since: str | None, until: str | None, agents: tuple[str, ...], out: Path
) -> None:
    """Write an evidence bundle that an auditor verifies offline (`agentaudit verify --bundle DIR`).

    The bundle holds exactly what `agentaudit verify` would check for the
    same --since/--until/--agent: records.jsonl (each stored record's exact
    bytes in base64, with readable fields), seals.jsonl (each seal's bytes
    and fields), public-keys.json, manifest.json (SHA-256 of every file, the
    range, counts, the seal the range starts from) and manifest.sig (the
    pipeline key's Ed25519 signature of the manifest). Signing needs the
    pipeline keyring and its KEK, like the processor. Formats: schemas/chain.md.
    """
    from agentaudit.evidence.export import export_bundle
    from agentaudit.keyring import Keyring
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect

    moment = datetime.now(UTC)
    since_at = parse_time(since, moment) if since else None
    until_at = parse_time(until, moment) if until else None
    keyring = Keyring.load(settings)
    client = connect(settings)
    try:
        with _Progress("exporting records") as bar:
            result = export_bundle(
                client, settings, out, agents=list(agents), since=since_at, until=until_at, signer=keyring,
                public_keys_document=keyring.export_public(), exported_at_us=time.time_ns() // 1000,
                progress=bar.progress, total=bar.total,
            )
    finally:
        client.close()
    _wrote(out, result)
    if not result.agents:
        click.echo("warning: nothing in that range", err=True)
    click.echo(f"verify offline with: agentaudit verify --bundle {out} --public-keys KEYS.json", err=True)


class _Progress:
    """A progress bar on stderr (stdout stays the result), started once the total is known."""

    def __init__(self, label: str) -> None:
        self._label = label
        self._bar: Any = None

    def total(self, count: int) -> None:
        self._bar = click.progressbar(length=count, label=self._label, file=sys.stderr, show_pos=True)
        self._bar.__enter__()

    def progress(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


@click.command("archive")
@click.option("--before", required=True, metavar="YYYY-MM",
              help="The first month NOT archived: everything ingested before its first day (UTC) is.")
@click.option("--from", "first", metavar="YYYY-MM",
              help="The first month archived (default: the start of every chain); with --before, one archive "
                   "per month: --from 2026-01 --before 2026-02.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the archive into: new, or empty (anything in it is refused).")
@click.pass_obj
def archive_command(settings: Settings, before: str, first: str | None, out: Path) -> None:
    """Archive old months of audit data for cold storage, before their retention ends.

    Audit tables keep rows AGENTAUDIT_RETENTION_DAYS (default 400) and then
    drop each monthly partition whole. To keep evidence longer, archive the
    months first: this writes every record ingested in them, every seal that
    starts in them (and the records those sign), the public keys and a
    manifest signed by the pipeline key -- an evidence bundle
    (schemas/chain.md), whose manifest also names the months and the
    partitions of audit_records and audit_seals it holds.

    Check an archive offline, now or years later, with `agentaudit verify
    --bundle DIR --public-keys KEYS` (no ClickHouse needed). If some of the
    months already expired, the archive starts at what remains and its
    manifest states the retention cutoff, so it verifies from there.

    The agent registry is not archived: it is kept without TTL. Signing needs
    the pipeline keyring and its KEK, like `agentaudit export`.
    """
    from agentaudit.evidence.archive import archive_months
    from agentaudit.keyring import Keyring
    from agentaudit.store import connect

    keyring = Keyring.load(settings)
    client = connect(settings)
    try:
        click.echo(f"archiving {'from ' + first + ' ' if first else ''}before {before} into {out}…", err=True)
        with _Progress("archiving records") as bar:
            result, covered = archive_months(
                client, settings, out, before=before, first=first, signer=keyring,
                public_keys_document=keyring.export_public(), exported_at_us=time.time_ns() // 1000,
                progress=bar.progress, total=bar.total,
            )
    finally:
        client.close()
    _wrote(out, result)
    for table, months in covered.items():
        click.echo(f"  {table}: partitions {', '.join(map(str, months)) if months else 'none'}")
    if not result.agents:
        click.echo("warning: nothing stored before that month", err=True)
    click.echo(f"verify offline with: agentaudit verify --bundle {out} --public-keys KEYS.json", err=True)


@click.command("prove")
@click.argument("event_id")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the proof to this file (refuses to overwrite); default: standard output.")
@click.pass_obj
def prove_command(settings: Settings, event_id: str, out: Path | None) -> None:
    """Write a Merkle inclusion proof that event EVENT_ID is in a signed seal.

    The proof (JSON, schemas/chain.md) holds the record's stored bytes, its
    chain hash, the RFC 6962 audit path to the Merkle root of the seal that
    covers it, the seal's stored bytes and the pipeline's public keys; check
    it offline with `agentaudit verify --proof FILE`. Exits 3 when the record
    is stored but not sealed yet, saying when its seal is due.
    """
    from agentaudit.evidence.prove import NotSealedYet, make_proof
    from agentaudit.keyring import local_public_keys_document
    from agentaudit.store import connect

    keys = local_public_keys_document(settings)
    client = connect(settings)
    try:
        proof = make_proof(client, settings, event_id, keys, time.time_ns() // 1000)
    except NotSealedYet as exc:
        click.echo(f"agentaudit: {exc}", err=True)
        sys.exit(3)
    finally:
        client.close()
    if not write_text(json.dumps(proof, indent=2) + "\n", out):
        return
    click.echo(f"wrote {out}: event {event_id} in seal {proof['seal']['seq']} of {proof['record']['agent_id']}",
               err=True)


def verify_bundle_or_proof(bundle: Path | None, proof: Path | None, public_keys_file: Path | None,
                           as_json: bool) -> int:
    """`agentaudit verify --bundle DIR | --proof FILE`: the exit code (0 only when everything verifies)."""
    from agentaudit.keyring import load_public_keys

    trusted = load_public_keys(public_keys_file) if public_keys_file else None
    if bundle is not None:
        return _verify_bundle(bundle, trusted, as_json)
    assert proof is not None
    return _verify_proof(proof, trusted, as_json)


def _verify_bundle(directory: Path, trusted: dict[str, bytes] | None, as_json: bool) -> int:
    from agentaudit.evidence.bundle import verify_bundle
    from agentaudit.report.verify_pack import is_pack
    from agentaudit.verify.cli import echo_report

    if is_pack(directory):
        return _verify_pack(directory, trusted, as_json)

    result = verify_bundle(directory, trusted)
    manifest = result.manifest or {}
    summary = {
        "bundle": str(directory),
        "exporter": manifest.get("exporter"),
        "exported_at": manifest.get("exported_at"),
        "range": manifest.get("range"),
        "signed_by": result.signed_by,
        "keys_given": result.keys_given,
    }
    if not as_json:
        exporter = manifest.get("exporter") or {}
        click.echo(f"bundle {directory}: exported {manifest.get('exported_at', '?')} by agentaudit "
                   f"{exporter.get('version', '?')}, range {json.dumps(manifest.get('range'))}, "
                   f"manifest signed by {_signer(result.signed_by, result.keys_given)}")
    echo_report(result.report, as_json, {"evidence": summary})
    if trusted is None:
        click.echo(TRUST_NOTE.format(what="bundle"), err=True)
    return 0 if result.report.ok else 1


def _verify_pack(directory: Path, trusted: dict[str, bytes] | None, as_json: bool) -> int:
    """A report pack (`agentaudit report`): its manifest, every file's hash, and the sampled proofs."""
    from agentaudit.report.verify_pack import verify_pack
    from agentaudit.verify.cli import describe

    result = verify_pack(directory, trusted)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        manifest = result.manifest or {}
        click.echo(f"report pack {directory}: generated {manifest.get('generated_at', '?')}, window "
                   f"{json.dumps(manifest.get('window'))}, manifest signed by "
                   f"{_signer(result.signed_by, result.keys_given)}")
        click.echo(f"checked {result.files} files against the manifest and {result.proofs} sample inclusion proofs")
        for finding in result.findings:
            click.echo(f"  FAIL {describe(finding)}")
        click.echo("OK: the pack is as signed" if result.ok else "NOT OK")
    if trusted is None:
        click.echo(TRUST_NOTE.format(what="pack"), err=True)
    return 0 if result.ok else 1


def _signer(key_id: str | None, keys_given: bool) -> str:
    if key_id is None:
        return "no valid key"
    whose = "one of the keys you gave" if keys_given else "one of the bundle's own keys"
    return f"key {key_id} ({whose})"


def _verify_proof(path: Path, trusted: dict[str, bytes] | None, as_json: bool) -> int:
    from agentaudit.evidence.proof import verify_proof
    from agentaudit.verify.cli import describe

    try:
        document = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError):
        document = None
    result = verify_proof(document, trusted)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        for finding in result.findings:
            click.echo(f"  FAIL {describe(finding)}")
        if result.ok:
            click.echo(f"OK: event {result.event_id} ({result.agent_id}, position {result.position}) is in seal "
                       f"{result.seal_seq} of {result.agent_id}, signed by pipeline key {result.key_id}")
        else:
            click.echo("NOT OK")
    if trusted is None:
        click.echo(TRUST_NOTE.format(what="proof"), err=True)
    return 0 if result.ok else 1


def _wrote(out: Path, result: ExportResult) -> None:
    click.echo(f"wrote {out}: {result.records:,} records and {result.seals:,} seals of {len(result.agents)} agents, "
               f"manifest signed by pipeline key {result.key_id}")
