"""The `agentaudit` command: one entry point, a subcommand per stage.

Each stage keeps its command in its own package (agentaudit.<stage>.cli) and is
registered here, so this module only wires them together.
"""

from __future__ import annotations

import logging
import sys

import click

from agentaudit import __version__
from agentaudit.errors import AgentAuditError
from agentaudit.settings import Settings, describe


def _settings_help() -> str:
    return "\n".join(f"  {env}  (default {default!r})\n      {doc}" for env, default, doc in describe())


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Settings come from the environment:\n\n\b\n" + _settings_help(),
)
@click.version_option(__version__, prog_name="agentaudit")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """agentaudit: an audit pipeline that makes AI agents auditable for SOC 2.

    Agent runtimes emit signed Avro action events to Kafka; the processor
    validates, attributes, scores and chains them; incidents go to on-call
    (`alert`) and can suspend an agent (`containment`); the sink stores
    everything in ClickHouse, where `query`, `incidents` and `verify` read it.
    Analysts and auditors read it over HTTP with `api serve` (keys, roles,
    tenant scope, an access log of every read); `report` writes the SOC 2
    evidence pack, `archive` keeps old months before retention drops them,
    and `dsar` answers data-subject requests.
    """
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Settings.from_env()


@cli.group()
def dev() -> None:
    """Local development infrastructure (no Docker needed)."""


def _register() -> None:
    """Attach each stage's commands; imported lazily so `--help` stays fast."""
    from agentaudit.admin_cli import topics
    from agentaudit.dev.cli import kafka
    from agentaudit.dev.registry_cli import registry

    dev.add_command(kafka)
    dev.add_command(registry)
    cli.add_command(topics)

    from agentaudit.alert.cli import alert_command
    from agentaudit.query.cli import query_command
    from agentaudit.sink.cli import sink_command
    from agentaudit.store.cli import db

    from agentaudit.bench.cli import bench_command
    from agentaudit.demo.cli import demo_command
    from agentaudit.detect.cli import rules_group
    from agentaudit.process.cli import process_command
    from agentaudit.verify.cli import verify_command
    from agentaudit.evidence.cli import archive_command, export_command, prove_command
    from agentaudit.keyring.cli import keys
    from agentaudit.registry.cli import agents
    from agentaudit.incident.cli import containment_command, incidents
    from agentaudit.api.cli import api
    from agentaudit.privacy.cli import dsar
    from agentaudit.report.cli import report_command

    cli.add_command(dsar)
    cli.add_command(report_command)
    cli.add_command(bench_command)
    cli.add_command(demo_command)
    cli.add_command(process_command)
    cli.add_command(sink_command)
    cli.add_command(alert_command)
    cli.add_command(query_command)
    cli.add_command(db)
    cli.add_command(verify_command)
    cli.add_command(export_command)
    cli.add_command(archive_command)
    cli.add_command(prove_command)
    cli.add_command(keys)
    cli.add_command(agents)
    cli.add_command(incidents)
    cli.add_command(containment_command)
    cli.add_command(rules_group)
    cli.add_command(api)


def main() -> None:
    _register()
    try:
        cli(standalone_mode=True)
    except AgentAuditError as exc:
        click.echo(f"agentaudit: error: {exc}", err=True)
        sys.exit(2)
