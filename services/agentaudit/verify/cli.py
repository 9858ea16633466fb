"""`agentaudit verify`: check stored chains and seals, for operators and auditors."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import Settings


@click.command("verify")
@click.option("--agent", "agents", multiple=True, help="Only this agent's chain (repeatable).")
@click.option("--since", help=f"Start from the last seal ending at or before this time: {TIME_HELP}.")
@click.option("--until", help="Only seals starting before this time, and the horizon for missing seals "
                              "(pass 'now' to detect a cut across every chain).")
@click.option("--public-keys", "public_keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pipeline public keys (from `agentaudit keys export-public`); default: the local keyring.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def verify_command(
    settings: Settings, agents: tuple[str, ...], since: str | None, until: str | None,
    public_keys_file: Path | None, as_json: bool,
) -> None:
    """Recompute every agent's hash chain and the seals' Merkle roots from ClickHouse.

    Reports modified, deleted, inserted and reordered records (naming the
    first bad record of each chain), seals with bad signatures or broken
    links, gaps in positions or time, and records or seals missing from the
    end. Exits 0 only when everything verifies, 1 when something does not.
    """
    from agentaudit.keyring import load_public_keys, local_public_keys, verify_signature
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect
    from agentaudit.verify.run import EPOCH, verify_store

    keys = load_public_keys(public_keys_file) if public_keys_file else local_public_keys(settings)
    now = datetime.now(UTC)
    since_at = parse_time(since, now) if since else EPOCH
    until_at = parse_time(until, now) if until else None
    client, side = connect(settings), connect(settings)
    try:
        report = verify_store(client, settings.clickhouse_database, list(agents), since_at, until_at, keys,
                              verify_signature, int(settings.seal_interval_s * 1e6), side)
    finally:
        side.close()
        client.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        rate = f"{report.records / report.seconds:,.0f} records/s" if report.seconds else ""
        click.echo(f"verified {report.records:,} records and {report.seals:,} seals of {len(report.agents)} agents "
                   f"in {report.seconds:.2f}s ({rate})")
        for finding in report.findings:
            where = (f" position {finding.position}" if finding.position is not None else "") + \
                    (f" (event {finding.event_id})" if finding.event_id else "") + \
                    (f" seal {finding.seal_seq}" if finding.seal_seq is not None else "")
            click.echo(f"  FAIL {finding.agent_id}{where}: {finding.kind}: {finding.detail}")
        if not report.agents:
            click.echo("nothing to verify: no chained records or seals in that range")
        click.echo("OK: every chain and seal verifies" if report.ok else "NOT OK")
    sys.exit(0 if report.ok else 1)
