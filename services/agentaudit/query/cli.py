"""`agentaudit query`: time-bounded audit queries from the terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import Settings


@click.command("query")
@click.option("--since", default="-1h", show_default=True,
              help=f"Start of the window on ingest time, inclusive: {TIME_HELP}. Defaults to the last hour "
                   "so a bare query stays bounded and fast.")
@click.option("--until", default="now", show_default=True, help="End of the window, exclusive (same forms).")
@click.option("--tenant", multiple=True, help="Tenant id (repeat for any of several).")
@click.option("--agent", multiple=True, help="Agent id (repeatable).")
@click.option("--principal", multiple=True, help="Principal id the agent acted for (repeatable).")
@click.option("--action", multiple=True, help="Action type: llm_call, tool_call, data_read, data_write, … (repeatable).")
@click.option("--outcome", multiple=True, help="Outcome: success, failure, denied, pending, unknown (repeatable).")
@click.option("--reason", multiple=True, help="With --rejected: reason code (repeatable).")
@click.option("--rejected", is_flag=True, help="List rejections (audit_rejections) instead of records.")
@click.option("--summary", "--count", "summary_mode", is_flag=True,
              help="Counts instead of rows: records by outcome and action, rejections by reason.")
@click.option("--sessions", "sessions_mode", is_flag=True,
              help="Completeness per agent session: expected actions (by sequence number) against stored ones.")
@click.option("--limit", default=100, show_default=True, help="Most rows to print; 0 for all.")
@click.option("--oldest-first", is_flag=True, help="Oldest rows first (default: newest first).")
@click.option("--json", "fmt", flag_value="json", help="One JSON object per line.")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@click.pass_obj
def query_command(
    settings: Settings,
    since: str,
    until: str,
    tenant: tuple[str, ...],
    agent: tuple[str, ...],
    principal: tuple[str, ...],
    action: tuple[str, ...],
    outcome: tuple[str, ...],
    reason: tuple[str, ...],
    rejected: bool,
    summary_mode: bool,
    sessions_mode: bool,
    limit: int,
    oldest_first: bool,
    fmt: str | None,
) -> None:
    """Find audit records by time, tenant, agent, principal, action and outcome.

    The window is on ingest time, the pipeline's clock (never the agent's), and
    is half-open: --since <= ingest_time < --until. Examples:

    \b
      agentaudit query --since -15m --agent support-bot-1
      agentaudit query --since 2025-01-31 --until 2025-02-01 --tenant acme --outcome denied --csv
      agentaudit query --since -1d --summary
      agentaudit query --rejected --reason not_avro --json
      agentaudit query --since -1d --sessions     # which sessions miss actions

    With the embedded database this works only while no sink runs on it
    (chDB allows one process per folder); use a ClickHouse server to query a
    running pipeline.
    """
    from agentaudit.query import output
    from agentaudit.query.build import Filters, records_query, rejections_query, sessions_query
    from agentaudit.query.run import run_query, summary
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect

    now = datetime.now(UTC)
    start, end = parse_time(since, now), parse_time(until, now)
    values = {"tenant": tenant, "agent": agent, "principal": principal, "action": action, "outcome": outcome}
    if rejected:
        if principal or action or outcome:
            raise click.UsageError("--rejected filters on --tenant, --agent and --reason only")
        values = {"tenant": tenant, "agent": agent, "reason": reason}
    elif reason:
        raise click.UsageError("--reason needs --rejected")
    values = {k: v for k, v in values.items() if v}
    filters = Filters(start, end, values, limit=limit, newest_first=not oldest_first)

    client = connect(settings)
    try:
        if summary_mode:
            result = summary(client, settings, start, end, **values)
            if fmt == "json":
                click.echo(json.dumps({k: output.cell(v) if isinstance(v, datetime) else v for k, v in result.items()}))
            else:
                click.echo(output.summary_text(result))
            return
        if sessions_mode and rejected:
            raise click.UsageError("--sessions counts records; it does not combine with --rejected")
        build = sessions_query if sessions_mode else rejections_query if rejected else records_query
        query = build(settings.clickhouse_database, filters)
        rows = run_query(client, query)
    finally:
        client.close()
    if fmt == "json":
        if rows:
            click.echo(output.json_lines(rows))
    elif fmt == "csv":
        click.echo(output.csv_text(rows, query.columns))
    else:
        click.echo(output.table(rows, query.columns))
        shown = f"{len(rows)} rows" + (" (limit reached; narrow the window or raise --limit)" if limit and len(rows) == limit else "")
        click.echo(f"{shown}, ingest time {output.cell(start)} to {output.cell(end)}", err=True)
