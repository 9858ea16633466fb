"""`agentaudit agents …`: the agent registry from the terminal (CC6.2, CC6.3, CC8.1)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.registry.change import ChangeKind, RegistryChange
from agentaudit.settings import Settings

if TYPE_CHECKING:  # imported where used, so `agentaudit --help` stays fast
    from agentaudit.registry.requests import ChangeRequest, NewKey
    from agentaudit.registry.store import RegistryFollower, RegistryWriter

_DURATION = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[smhdw]?)$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration_us(text: str) -> int:
    """Microseconds in `0`, `90s`, `15m`, `1h`, `7d`, `2w`."""
    match = _DURATION.match(text.strip().lower())
    if not match:
        raise click.BadParameter(f"{text!r} is not a duration: use e.g. 0, 30s, 15m, 1h, 7d")
    return int(float(match["n"]) * _UNIT_S[match["unit"]] * 1_000_000)


def _approval(func: Callable[..., Any]) -> Callable[..., Any]:
    """--actor, --approver, --reason: every change says who made it, who approved it and why (CC8.1)."""
    func = click.option("--reason", required=True, help="Why: a ticket or change-request reference and a summary.")(func)
    func = click.option("--approver", required=True,
                        help="Who approved the change; must differ from --actor (separation of duties).")(func)
    return click.option("--actor", required=True, help="Who makes the change (your identity).")(func)


def _key_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--key-type", type=click.Choice(["ed25519", "hmac"]), default="ed25519", show_default=True,
                     help="ed25519: the agent holds the private key (recommended). hmac: HMAC-SHA256 shared "
                          "secret for very high-volume agents, stored in the registry only sealed under the KEK."),
        click.option("--public-key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="ed25519: the agent's public key, PEM or the raw 32 bytes in base64."),
        click.option("--generate-key", is_flag=True,
                     help="ed25519: generate the key pair here; the private key goes to --private-key-out."),
        click.option("--private-key-out", type=click.Path(dir_okay=False, path_type=Path),
                     help="Where --generate-key writes the private key (PEM, mode 0600; never overwrites)."),
        click.option("--secret-out", type=click.Path(dir_okay=False, path_type=Path),
                     help="hmac: where the generated secret goes (JSON with agent and key id, mode 0600; never "
                          "overwrites). The secret is never printed or logged."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _public_keys_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--public-keys", type=click.Path(dir_okay=False, exists=True, path_type=Path),
        help="Verify the registry with these pipeline public keys (from `agentaudit keys export-public`) "
             "instead of the local keyring: for auditors, no KEK needed.")(func)


@click.group("agents")
def agents() -> None:
    """The agent registry: identities, declared scope, keys and status, with their full history.

    Every change is an entry on the agent.registry topic recording who made
    it and who approved it (never the same person), signed by the pipeline's
    keyring and hash-chained to the previous entry; nothing is edited in
    place. Reading verifies every entry and stops, naming the position, at
    one that does not verify. Changes need the pipeline keyring (`agentaudit
    keys init`) and the topic (`agentaudit topics ensure`).

    \b
      agentaudit agents register billing-bot --name "Billing bot" --owner team-billing \\
          --environment production --tenant acme --principal user:* --action-type tool_call \\
          --tool crm.lookup --resource 'crm://accounts/*' --data-class financial \\
          --generate-key --private-key-out billing-bot.pem --actor alice --approver bob --reason CHG-1
      agentaudit agents show billing-bot --at 2025-01-31T12:00Z
      agentaudit agents suspend billing-bot --actor alice --approver bob --reason INC-7
    """


# -- writing --------------------------------------------------------------------


def _writer(settings: Settings) -> RegistryWriter:
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.keyring import Keyring
    from agentaudit.registry.store import RegistryWriter

    keyring = Keyring.load(settings)
    click.echo("reading and verifying the registry…", err=True)
    return RegistryWriter(settings, resolve_bootstrap(settings), keyring)


def _new_key(settings: Settings, agent_id: str, key_type: str, public_key: Path | None, generate_key: bool,
             private_key_out: Path | None, secret_out: Path | None) -> tuple[NewKey, Path | None, bytes | None]:
    """(key to register, file to write, its bytes): checks the options before anything is written."""
    from agentaudit.registry.keyfiles import (
        hmac_secret_document,
        new_ed25519_key,
        private_key_pem,
        read_public_key,
        refuse_existing,
    )

    if key_type == "hmac":
        if public_key or generate_key or private_key_out:
            raise click.UsageError("--key-type hmac generates its secret: use --secret-out, not --public-key, "
                                   "--generate-key or --private-key-out")
        if secret_out is None:
            raise click.UsageError("--key-type hmac needs --secret-out FILE for the generated secret")
        refuse_existing(secret_out, "--secret-out")
        from agentaudit.crypto import load_kek
        from agentaudit.registry.secrets import new_hmac_key

        key, secret = new_hmac_key(load_kek(settings), agent_id)
        return key, secret_out, hmac_secret_document(agent_id, key.key_id, secret)
    if secret_out:
        raise click.UsageError("--secret-out is for --key-type hmac; an ed25519 key uses --private-key-out")
    if bool(public_key) == generate_key:
        raise click.UsageError("give the agent's key with --public-key FILE, or --generate-key --private-key-out FILE")
    if public_key:
        if private_key_out:
            raise click.UsageError("--private-key-out goes with --generate-key")
        return read_public_key(public_key), None, None
    if private_key_out is None:
        raise click.UsageError("--generate-key needs --private-key-out FILE for the agent's private key")
    refuse_existing(private_key_out, "--private-key-out")
    key, private = new_ed25519_key()
    return key, private_key_out, private_key_pem(private)


def _submit(settings: Settings, request: ChangeRequest, secret_file: Path | None = None,
            secret: bytes | None = None) -> RegistryChange:
    """Write the key file (if any) first, then the change; a refused change takes its key file back."""
    from agentaudit.registry.errors import RegistryRefusal
    from agentaudit.registry.keyfiles import write_private_file

    if secret_file is not None and secret is not None:
        write_private_file(secret_file, secret)
    try:
        with _writer(settings) as writer:
            return writer.submit(request)
    except RegistryRefusal:
        if secret_file is not None:
            secret_file.unlink(missing_ok=True)  # its key was never registered
        raise
    except BaseException:
        if secret_file is not None:
            click.echo(f"the change may not have been written; the key in {secret_file} is kept: check with "
                       f"`agentaudit agents show {request.agent_id}` before using it", err=True)
        raise


@agents.command("register")
@click.argument("agent_id")
@click.option("--name", required=True, help="Human-readable name.")
@click.option("--owner", required=True, help="Accountable owner: a person or team.")
@click.option("--environment", required=True, help="Deployment environment, e.g. production.")
@click.option("--tenant", "tenant_id", required=True, help="Tenant the agent acts in.")
@click.option("--principal", "principals", multiple=True, required=True,
              help="TYPE:ID the agent may act for (TYPE user, service, agent, system; ID * for any). Repeatable.")
@click.option("--action-type", "action_types", multiple=True,
              help="Action type it may take: llm_call, tool_call, data_read, data_write, … Repeatable.")
@click.option("--tool", "tools", multiple=True, help="Tool it may call. Repeatable.")
@click.option("--resource", "resources", multiple=True, help="Resource glob it may touch, e.g. 'crm://accounts/*'. Repeatable.")
@click.option("--data-class", "data_classes", multiple=True, help="Data class it may handle, e.g. pii. Repeatable.")
@_key_options
@_approval
@click.pass_obj
def register(settings: Settings, agent_id: str, name: str, owner: str, environment: str, tenant_id: str,
             principals: tuple[str, ...], action_types: tuple[str, ...], tools: tuple[str, ...],
             resources: tuple[str, ...], data_classes: tuple[str, ...], key_type: str, public_key: Path | None,
             generate_key: bool, private_key_out: Path | None, secret_out: Path | None,
             actor: str, approver: str, reason: str) -> None:
    """Register a new agent identity with its declared scope and first key.

    An agent id is registered once, ever; a key belongs to one agent only.
    Scope left out allows nothing of that kind.
    """
    from agentaudit.registry.model import Scope
    from agentaudit.registry.requests import Register

    key, secret_file, secret = _new_key(settings, agent_id, key_type, public_key, generate_key, private_key_out,
                                        secret_out)
    request = Register(agent_id=agent_id, name=name, owner=owner, environment=environment, tenant_id=tenant_id,
                       principals=principals, scope=Scope(action_types, tools, resources, data_classes), key=key,
                       actor=actor, approver=approver, reason=reason)
    change = _submit(settings, request, secret_file, secret)
    kept = "secret" if key_type == "hmac" else "private key"
    click.echo(f"registered {agent_id} (registry position {change.position}); key {key.key_id} ({key.algorithm})"
               + (f", its {kept} in {secret_file} (mode 0600): hand it to the agent's runtime only" if secret_file
                  else ""))


def _status_command(kind: ChangeKind, summary: str) -> click.Command:
    @_approval
    @click.argument("agent_id")
    @click.pass_obj
    def command(settings: Settings, agent_id: str, actor: str, approver: str, reason: str) -> None:
        from agentaudit.registry.requests import SetStatus

        change = _submit(settings, SetStatus(agent_id=agent_id, kind=kind, actor=actor, approver=approver,
                                             reason=reason))
        click.echo(f"{agent_id} is {change.definition.status} (registry position {change.position}, "
                   f"effective {_when(change.valid_from_us)})")

    command.__doc__ = summary
    return click.command(kind.value)(command)


def _when(us: int) -> str:
    from agentaudit.registry.output import when

    return when(us)


agents.add_command(_status_command(ChangeKind.SUSPEND, "Suspend an agent (kill switch): its actions are refused "
                                   "from now until it is reactivated. Its keys are kept."))
agents.add_command(_status_command(ChangeKind.REACTIVATE, "Reactivate a suspended agent."))
agents.add_command(_status_command(ChangeKind.RETIRE, "Retire an agent for good: every key ends now, and its id is "
                                   "never registered again."))


@agents.command("rotate-key")
@click.argument("agent_id")
@click.option("--grace", default="0", show_default=True,
              help="How long the keys valid now stay valid after the rotation (0, 30s, 15m, 1h, 7d): a few minutes "
                   "for a routine rotation while the agent switches over; 0 after a compromise.")
@_key_options
@_approval
@click.pass_obj
def rotate_key(settings: Settings, agent_id: str, grace: str, key_type: str, public_key: Path | None,
               generate_key: bool, private_key_out: Path | None, secret_out: Path | None,
               actor: str, approver: str, reason: str) -> None:
    """Give an agent a new key; the old one expires after --grace."""
    from agentaudit.registry.requests import RotateKey

    grace_us = parse_duration_us(grace)
    key, secret_file, secret = _new_key(settings, agent_id, key_type, public_key, generate_key, private_key_out,
                                        secret_out)
    request = RotateKey(agent_id=agent_id, key=key, grace_us=grace_us, actor=actor, approver=approver, reason=reason)
    change = _submit(settings, request, secret_file, secret)
    ends = change.valid_from_us + grace_us
    click.echo(f"{agent_id}: new key {key.key_id} from {_when(change.valid_from_us)}; earlier keys end by "
               f"{_when(ends)} (registry position {change.position})")


# -- reading --------------------------------------------------------------------


def _follower(settings: Settings, public_keys_file: Path | None) -> RegistryFollower:
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.keyring import Keyring, load_public_keys
    from agentaudit.registry.store import RegistryFollower

    keys = load_public_keys(public_keys_file) if public_keys_file else Keyring.load(settings).public_keys()
    return RegistryFollower(settings, resolve_bootstrap(settings), keys)


@agents.command("list")
@click.option("--status", type=click.Choice(["active", "suspended", "retired"]), help="Only agents in this status.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@_public_keys_option
@click.pass_obj
def list_agents(settings: Settings, status: str | None, as_json: bool, public_keys: Path | None) -> None:
    """Every registered agent as it is now (its latest definition)."""
    from agentaudit.registry.output import LIST_HEADER, definition_json, dumps, list_line

    with _follower(settings, public_keys) as follower:
        current = [follower.log.current(agent_id) for agent_id in follower.view.agents()]
    shown = [d for d in current if d is not None and (status is None or d.status == status)]
    if as_json:
        for definition in shown:
            click.echo(dumps(definition_json(definition)))
        return
    click.echo(LIST_HEADER)
    for definition in shown:
        click.echo(list_line(definition))


@agents.command("show")
@click.argument("agent_id")
@click.option("--at", "at", help=f"Show the definition in effect at this time: {TIME_HELP}. Default: the latest.")
@click.option("--json", "as_json", is_flag=True, help="As JSON, with the change that made it.")
@_public_keys_option
@click.pass_obj
def show(settings: Settings, agent_id: str, at: str | None, as_json: bool, public_keys: Path | None) -> None:
    """What an agent was allowed to do, and with which keys, now or at --at.

    Answers "what was agent X allowed to do on date D" from the verified
    history: the definition in effect at D, and who made and approved it.
    """
    from agentaudit.query.timeparse import parse_time, to_micros
    from agentaudit.registry.output import change_json, describe, dumps, when

    at_us = to_micros(parse_time(at, datetime.now(UTC))) if at else None
    with _follower(settings, public_keys) as follower:
        history = follower.log.changes_of(agent_id)
        change = follower.log.change_at(agent_id, at_us) if at_us is not None else (history[-1] if history else None)
    if not history:
        raise click.ClickException(f"no agent {agent_id} in the registry")
    if change is None:
        raise click.ClickException(f"agent {agent_id} was not registered yet at {when(at_us)} "
                                   f"(registered {when(history[0].valid_from_us)})")
    if as_json:
        click.echo(dumps({**change_json(change), **({"as_of": when(at_us)} if at_us is not None else {})}))
    else:
        click.echo(describe(change, at_us))


@agents.command("history")
@click.argument("agent_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per change, each with the full definition.")
@_public_keys_option
@click.pass_obj
def history(settings: Settings, agent_id: str, as_json: bool, public_keys: Path | None) -> None:
    """Every change to an agent, oldest first: when, what, who made it, who approved it, why."""
    from agentaudit.registry.output import HISTORY_HEADER, change_json, dumps, history_line

    with _follower(settings, public_keys) as follower:
        changes = follower.log.changes_of(agent_id)
    if not changes:
        raise click.ClickException(f"no agent {agent_id} in the registry")
    if as_json:
        for change in changes:
            click.echo(dumps(change_json(change)))
        return
    click.echo(HISTORY_HEADER)
    for change in changes:
        click.echo(history_line(change))
