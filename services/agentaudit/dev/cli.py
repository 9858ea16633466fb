"""`agentaudit dev kafka up|down|status` and `agentaudit topics ensure`."""

from __future__ import annotations

import sys

import click

from agentaudit.settings import Settings


@click.group()
def kafka() -> None:
    """A real single-node Apache Kafka broker (KRaft) from the official jars.

    The jars are fetched from Maven Central on first use (Java 17+ and Maven
    needed); state and logs stay under AGENTAUDIT_HOME/kafka.
    """


@kafka.command("up")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds to wait for readiness.")
@click.pass_obj
def up(settings: Settings, timeout_s: float) -> None:
    """Start the broker (or find it running) and print its bootstrap address."""
    from agentaudit.dev.kafka import LocalKafka

    broker = LocalKafka(settings)
    click.echo(broker.up(timeout_s, echo=lambda line: click.echo(line, err=True)))


@kafka.command("down")
@click.pass_obj
def down(settings: Settings) -> None:
    """Stop the broker gracefully; its data stays for the next `up`."""
    from agentaudit.dev.kafka import LocalKafka

    click.echo("stopped" if LocalKafka(settings).down() else "not running", err=True)


@kafka.command("status")
@click.pass_obj
def status(settings: Settings) -> None:
    """Print the running broker's pid and address; exit 1 if none runs."""
    from agentaudit.dev.kafka import LocalKafka

    state = LocalKafka(settings).status()
    if state is None:
        click.echo("not running", err=True)
        sys.exit(1)
    click.echo(f"running: pid {state.pid}, bootstrap {state.bootstrap}, log {state.log}")


@click.group()
def topics() -> None:
    """The pipeline's Kafka topics."""


@topics.command("ensure")
@click.pass_obj
def ensure(settings: Settings) -> None:
    """Create missing topics; check partition counts and LogAppendTime on the rest."""
    from agentaudit.admin import ensure_topics
    from agentaudit.dev.kafka import resolve_bootstrap

    created = ensure_topics(settings, resolve_bootstrap(settings))
    click.echo("created: " + ", ".join(created) if created else "all topics exist and are configured as required")
