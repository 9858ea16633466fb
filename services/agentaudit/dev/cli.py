"""`agentaudit dev kafka up|down|status|fetch`: the local Kafka broker."""

from __future__ import annotations

import sys

import click

from agentaudit.settings import Settings


def _progress(line: str) -> None:
    click.echo(line, err=True)  # stdout carries only the result, for scripts


@click.group()
def kafka() -> None:
    """A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) on 127.0.0.1.

    It runs from the official jars, fetched from Maven Central on first use
    (needs Java 17+ and Maven). State, data and the broker's log stay under
    AGENTAUDIT_HOME/kafka; the broker keeps running after the command returns
    and keeps its address and topics across down/up. Every agentaudit command
    uses it when AGENTAUDIT_KAFKA_BOOTSTRAP is not set.
    """


@kafka.command("up")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds to wait for readiness.")
@click.pass_obj
def up(settings: Settings, timeout_s: float) -> None:
    """Start the broker, or find it running; print its bootstrap address once it answers.

    \b
    For other tools:  export AGENTAUDIT_KAFKA_BOOTSTRAP=$(agentaudit dev kafka up)
    """
    from agentaudit.dev.kafka import LocalKafka

    click.echo(LocalKafka(settings).up(timeout_s, echo=_progress))


@kafka.command("down")
@click.pass_obj
def down(settings: Settings) -> None:
    """Stop the broker gracefully (SIGTERM, SIGKILL after 30 s); data stays for the next `up`."""
    from agentaudit.dev.kafka import LocalKafka

    _progress("kafka: stopped" if LocalKafka(settings).down() else "kafka: not running")


@kafka.command("status")
@click.pass_obj
def status(settings: Settings) -> None:
    """Print the broker's pid, address and log; exit 1 unless it runs and answers."""
    from agentaudit.dev.kafka import LocalKafka

    broker = LocalKafka(settings)
    state = broker.process()
    if state is None:
        _progress(f"kafka: not running (state in {broker.dir})")
        sys.exit(1)
    if broker.status() is None:
        _progress(f"kafka: pid {state.pid} runs but does not answer on {state.bootstrap} yet; see {state.log}")
        sys.exit(1)
    click.echo(f"kafka: running, pid {state.pid}, bootstrap {state.bootstrap}, log {state.log}")


@kafka.command("fetch")
def fetch() -> None:
    """Download the broker's jars from Maven Central unless they are there (`up` does this too)."""
    from agentaudit.dev.kafka import fetch_jars

    click.echo(fetch_jars(echo=_progress))
