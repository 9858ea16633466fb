"""`agentaudit dev registry up|down|status`: the local schema registry."""

from __future__ import annotations

import sys
import time

import click

from agentaudit.dev.registry import APICURIO_VERSION, LocalRegistry
from agentaudit.settings import Settings


def _registry(ctx: click.Context) -> LocalRegistry:
    settings: Settings = ctx.find_object(Settings) or Settings.from_env()
    return LocalRegistry(settings.home)


@click.group()
def registry() -> None:
    """A Confluent-compatible schema registry (Apicurio Registry, in memory) on 127.0.0.1."""


@registry.command()
@click.option("--register/--no-register", default=True, show_default=True,
              help="Register every version of every schema under schemas/avro, oldest first, "
                   "with BACKWARD compatibility enforced by the registry.")
@click.pass_context
def up(ctx: click.Context, register: bool) -> None:
    """Start the registry (fetching it from Maven Central the first time) and print its URL."""
    local = _registry(ctx)
    began = time.monotonic()
    url = local.start()
    click.echo(f"Apicurio Registry {APICURIO_VERSION} ready in {time.monotonic() - began:.1f}s "
               f"(pid {local.status().pid}, log {local.log_path})")
    if register:
        from agentaudit.codec.registry import RegistryCodec, subject_for

        codec = RegistryCodec.from_url(url)
        for name in codec.schemas.names:
            codec.client.set_compatibility(subject_for(codec.schemas.latest(name)), "BACKWARD")
        for name, ids in codec.register_all().items():
            click.echo(f"  {name}: schema ids {ids}")
    click.echo(f"export AGENTAUDIT_SCHEMA_REGISTRY_URL={url}")


@registry.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop the registry started by `up` (its schemas are forgotten: storage is in memory)."""
    click.echo("stopped" if _registry(ctx).stop() else "not running")


@registry.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Print whether the registry runs, and its URL; exit status 1 when it does not."""
    current = _registry(ctx).status()
    if not current.running:
        click.echo("not running")
        sys.exit(1)
    click.echo(f"running, pid {current.pid}, {current.url}")
