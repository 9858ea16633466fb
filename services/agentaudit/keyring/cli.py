"""`agentaudit keys …`: the pipeline's signing keyring."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from agentaudit.settings import Settings
from agentaudit.textfile import write_text


def _when(us: int | None) -> str:
    return "-" if us is None else datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@click.group("keys")
def keys() -> None:
    """The pipeline's own Ed25519 signing keys (seals, registry entries).

    Stored in AGENTAUDIT_HOME/keys/pipeline.json (mode 0600), private keys
    sealed with AES-256-GCM under the key-encryption key (AGENTAUDIT_KEK_FILE
    or AGENTAUDIT_KEK). Retired keys stay, so old signatures keep verifying.
    """


@keys.command("init")
@click.option("--dev", is_flag=True,
              help="Local development only: if no KEK is configured, write one to AGENTAUDIT_HOME/keys/kek (0600).")
@click.pass_obj
def init(settings: Settings, dev: bool) -> None:
    """Create the keyring with its first signing key (refuses to replace one)."""
    from agentaudit.crypto import dev_kek_path, generate_dev_kek
    from agentaudit.keyring import Keyring

    if dev and not (settings.kek or settings.kek_file or dev_kek_path(settings).exists()):
        path = generate_dev_kek(settings)
        click.echo(f"wrote a development KEK to {path}", err=True)
        click.echo("WARNING: for local development only. In production the KEK comes from a secret manager "
                   "(AGENTAUDIT_KEK_FILE or AGENTAUDIT_KEK), never from a file beside the keys it protects.", err=True)
    keyring = Keyring.create(settings)
    click.echo(f"created keyring {settings.home / 'keys' / 'pipeline.json'}; signing key {keyring.current_key_id}")


@keys.command("rotate")
@click.pass_obj
def rotate(settings: Settings) -> None:
    """Sign with a new key from now on; the old key is retired and kept for verification.

    Give auditors the new public keys afterwards (`agentaudit keys export-public`).
    """
    from agentaudit.keyring import Keyring

    keyring = Keyring.load(settings)
    old = keyring.current_key_id
    new = keyring.rotate()
    click.echo(f"signing key {new} (retired {old}, still verifies what it signed)")


@keys.command("list")
@click.pass_obj
def list_keys(settings: Settings) -> None:
    """Every key: id, created, retired (the current one has no retirement)."""
    from agentaudit.keyring import Keyring

    keyring = Keyring.load(settings)
    click.echo(f"{'key id':18} {'created':24} {'retired':24}")
    for key in keyring.keys():
        mark = "  (current)" if key.key_id == keyring.current_key_id else ""
        click.echo(f"{key.key_id:18} {_when(key.created_us):24} {_when(key.retired_us):24}{mark}")


@keys.command("export-public")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (refuses to overwrite) instead of standard output.")
@click.pass_obj
def export_public(settings: Settings, out: Path | None) -> None:
    """The public keys as JSON, for auditors to verify signatures offline.

    Holds no secret. Verify with agentaudit.keyring.verify_signature, or any
    Ed25519 library: key_id is the first 16 hex characters of SHA-256 of the
    raw 32-byte public key.
    """
    from agentaudit.keyring import Keyring

    if write_text(json.dumps(Keyring.load(settings).export_public(), indent=2) + "\n", out):
        click.echo(f"wrote {out}", err=True)
