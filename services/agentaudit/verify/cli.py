"""`agentaudit verify`: check stored chains and seals, for operators and auditors."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import RETENTION_FLOOR_DAYS, Settings

if TYPE_CHECKING:
    from agentaudit.verify.agents import Report
    from agentaudit.verify.checks import Finding
    from agentaudit.verify.export import MetricsExport


@click.command("verify")
@click.option("--agent", "agents", multiple=True, help="Only this agent's chain (repeatable).")
@click.option("--since", help=f"Start from the last seal ending at or before this time: {TIME_HELP}.")
@click.option("--until", help="Only seals starting before this time, and the horizon for missing seals "
                              "(pass 'now' to detect a cut across every chain).")
@click.option("--public-keys", "public_keys_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Pipeline public keys (from `agentaudit keys export-public`); default: the local keyring, or "
                   "with --bundle/--proof the keys inside the bundle or proof (which prove only that it is "
                   "self-consistent: pass the keys you were given out of band to prove who signed it).")
@click.option("--bundle", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Verify an evidence bundle (from `agentaudit export`) offline, without Kafka or ClickHouse.")
@click.option("--proof", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an inclusion proof (from `agentaudit prove`) offline.")
@click.option("--columns", "check_columns", is_flag=True,
              help="Also check every record's query columns (principal_id, resource, ...) against its stored bytes. "
                   "Decodes every record in Python: far slower than the chain check, which proves the bytes only.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--metrics-textfile", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the outcome as Prometheus metrics to this .prom file, for node-exporter's textfile "
                   "collector (replaced atomically).")
@click.option("--pushgateway", metavar="URL", help="Also push the outcome to this Prometheus Pushgateway "
                                                   "(job agentaudit_verify).")
@click.pass_obj
def verify_command(
    settings: Settings, agents: tuple[str, ...], since: str | None, until: str | None,
    public_keys_file: Path | None, bundle: Path | None, proof: Path | None, check_columns: bool, as_json: bool,
    metrics_textfile: Path | None, pushgateway: str | None,
) -> None:
    """Recompute every agent's hash chain and the seals' Merkle roots from ClickHouse.

    Reports modified, deleted, inserted and reordered records (naming the
    first bad record of each chain), seals with bad signatures or broken
    links, gaps in positions or time, and records or seals missing from the
    end. Exits 0 only when everything verifies, 1 when something does not.

    Retention: records and seals older than AGENTAUDIT_RETENTION_DAYS expire
    from the start of each chain; the chain is then verified from the first
    retained seal, whose signed link and times mark the boundary. Missing data
    that cannot be older than the cutoff (now minus the retention) is still
    reported (expiry_implausible, and the first bad record or seal).

    --bundle DIR runs the same checks offline on an evidence bundle, after
    checking its manifest's signature and every file's SHA-256; --proof FILE
    checks one record's inclusion proof. Neither reads ClickHouse or Kafka.

    --columns: the chains prove each record's stored bytes; audit queries and
    dashboards read the columns the sink derived from them. With --columns
    every record is decoded and its columns recomputed and compared, so a
    column changed in place is reported too (column_mismatch). Bundles carry
    fields decoded from the bytes and need no such check.

    Why --public-keys matters offline: a bundle or proof carries the public
    keys it was signed with, and checking it against those proves only that
    it is consistent -- anyone who rewrote the records could have re-signed
    everything with a key of their own and shipped that key alongside. Only
    keys you received separately (`agentaudit keys export-public`, over a
    channel you trust) show that the pipeline signed it.

    Monitoring a scheduled run (cron, CI): --metrics-textfile PATH.prom and/or
    --pushgateway URL export agentaudit_verify_success (1/0),
    agentaudit_verify_last_run_timestamp_seconds, agentaudit_verify_records,
    agentaudit_verify_seals, agentaudit_verify_duration_seconds and
    agentaudit_verify_problems{kind} (the findings' kinds; verify_error when
    the run could not finish, nothing_to_verify when nothing was stored), for
    the alert rules in deploy/prometheus/rules. If they cannot be written the
    command exits 1 after printing the report.
    """
    from agentaudit.verify.export import MetricsExport

    export = MetricsExport(metrics_textfile, pushgateway)
    if metrics_textfile is not None and metrics_textfile.suffix != ".prom":
        raise click.UsageError("--metrics-textfile must end in .prom: the textfile collector reads nothing else")
    if bundle is not None or proof is not None:
        if bundle is not None and proof is not None:
            raise click.UsageError("--bundle and --proof are verified one at a time")
        if export.wanted:
            raise click.UsageError("--metrics-textfile and --pushgateway monitor the verification of ClickHouse")
        if agents or since or until or check_columns:
            raise click.UsageError("--agent, --since, --until and --columns work on ClickHouse; a bundle's "
                                   "range is fixed by its manifest, and its fields are decoded from its bytes")
        from agentaudit.evidence.cli import verify_bundle_or_proof

        sys.exit(verify_bundle_or_proof(bundle, proof, public_keys_file, as_json))
    from agentaudit.keyring import load_public_keys, local_public_keys, verify_signature
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect
    from agentaudit.verify.run import EPOCH, verify_store

    now = datetime.now(UTC)
    # Data older than the retention may have expired (TTL); never younger data.
    cutoff = now - timedelta(days=settings.retention_days)
    if settings.retention_days < RETENTION_FLOOR_DAYS:
        click.secho(f"WARNING: verifying under a forced retention of {settings.retention_days} days (below the "
                    f"{RETENTION_FLOOR_DAYS}-day floor): data missing from before {cutoff:%Y-%m-%d} passes as expired",
                    err=True, fg="red", bold=True)
    since_at = parse_time(since, now) if since else EPOCH
    until_at = parse_time(until, now) if until else None
    reader = progress = None
    if check_columns:
        from agentaudit.codec import load_schemas
        from agentaudit.evidence.export import registry_resolver
        from agentaudit.evidence.values import ValueReader

        reader = ValueReader(load_schemas(), resolve=registry_resolver(settings))
        progress = _columns_progress()
    started = time.monotonic()
    try:
        keys = load_public_keys(public_keys_file) if public_keys_file else local_public_keys(settings)
        client, side = connect(settings), connect(settings)
        try:
            report = verify_store(client, settings.clickhouse_database, list(agents), since_at, until_at, keys,
                                  verify_signature, int(settings.seal_interval_s * 1e6), side, reader, progress,
                                  cutoff)
        finally:
            side.close()
            client.close()
    except Exception:
        # A run that could not finish is a failed verification, not a silent gap.
        _export(export, None, time.monotonic() - started, fatal=False)
        raise
    echo_report(report, as_json)
    _export(export, report, time.monotonic() - started)
    sys.exit(0 if report.ok else 1)


def _export(export: MetricsExport, report: Report | None, seconds: float, fatal: bool = True) -> None:
    """Export a run's outcome; fatal=False while another error is on its way out (that one wins)."""
    try:
        export.export(report, seconds)
    except OSError as exc:
        message = f"could not export the verification metrics: {exc}"
        if fatal:
            raise click.ClickException(message) from exc
        click.echo(f"Error: {message}", err=True)


def _columns_progress() -> Callable[[int], None]:
    """Counts records whose columns are checked, on stderr every 100,000 (stdout stays the report)."""
    done = 0

    def progress(count: int) -> None:
        nonlocal done
        if (done + count) // 100_000 > done // 100_000:
            click.echo(f"checked the columns of {done + count:,} records…", err=True)
        done += count

    return progress


def echo_report(report: Report, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    """The report as verify prints it, for the database and for a bundle alike.

    extra: more top-level JSON fields (a bundle's manifest summary).
    """
    if as_json:
        click.echo(json.dumps({**report.as_dict(), **(extra or {})}, indent=2))
        return
    rate = f"{report.records / report.seconds:,.0f} records/s" if report.seconds else ""
    click.echo(f"verified {report.records:,} records and {report.seals:,} seals of {len(report.agents)} agents "
               f"in {report.seconds:.2f}s ({rate})")
    if report.columns_checked is not None:
        click.echo(f"checked the query columns of {report.columns_checked:,} records against their stored bytes")
    if report.registry_entries:
        click.echo(f"verified {report.registry_entries:,} agent registry entries (hash chain and signatures)")
    if report.expired:
        click.echo(f"retention: {len(report.expired)} agents' chains start after records or seals that expired "
                   f"(older than the cutoff {_time(report.cutoff_us)}); what remains verifies from there")
        for agent in report.expired:
            click.echo(f"  {agent.agent_id}: {agent.expired_records:,} records and {agent.expired_seals:,} seals "
                       "expired before the first retained ones")
    for finding in report.findings:
        click.echo(f"  FAIL {describe(finding)}")
    if not report.agents:
        click.echo("nothing to verify: no chained records or seals in that range")
    click.echo("OK: every chain and seal verifies" if report.ok else "NOT OK")


def _time(us: int | None) -> str:
    return "?" if us is None else f"{datetime.fromtimestamp(us / 1e6, UTC):%Y-%m-%d %H:%M:%S} UTC"


def describe(finding: Finding) -> str:
    """One finding on one line: who, where, what."""
    where = (f" position {finding.position}" if finding.position is not None else "") + \
            (f" (event {finding.event_id})" if finding.event_id else "") + \
            (f" seal {finding.seal_seq}" if finding.seal_seq is not None else "") + \
            (f" [{finding.file}" + (f" line {finding.line}" if finding.line is not None else "") + "]"
             if finding.file else "")
    return f"{finding.agent_id or 'bundle'}{where}: {finding.kind}: {finding.detail}"
