"""`agentaudit incidents list|show|ack|contain|resolve`: handling incidents (CC7.3).

Reads the incidents' state from ClickHouse and writes lifecycle changes as new
timeline entries to audit.incidents (the sink stores them): nothing written
before is ever changed.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from datetime import UTC, datetime
from typing import Any

import click

from agentaudit.severity import SEVERITIES
from agentaudit.incident.lifecycle import STATUSES, Current
from agentaudit.query.timeparse import HELP as TIME_HELP
from agentaudit.settings import Settings


def _default_actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


@click.group("incidents")
def incidents() -> None:
    """List, inspect and handle incidents: open → acknowledged → contained → resolved.

    Every change is a new entry in the incident's timeline carrying who made
    it (--actor, default your login@host) and a note; nothing is overwritten.
    With the embedded database, reading works only while no sink runs on it
    (chDB allows one process per folder); changes go through Kafka and are
    stored by the sink.
    """


@incidents.command("list")
@click.option("--since", default="-7d", show_default=True, help=f"Incidents with an entry at or after: {TIME_HELP}.")
@click.option("--until", default="now", show_default=True, help="… and before (same forms).")
@click.option("--tenant", multiple=True, help="Tenant id (repeatable).")
@click.option("--agent", multiple=True, help="Agent id (repeatable).")
@click.option("--status", "statuses", multiple=True, type=click.Choice(STATUSES), help="Status (repeatable).")
@click.option("--severity", "min_severity", type=click.Choice(SEVERITIES), help="At least this severity.")
@click.option("--limit", default=100, show_default=True, help="Most incidents to print; 0 for all.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def list_command(settings: Settings, since: str, until: str, tenant: tuple[str, ...], agent: tuple[str, ...],
                 statuses: tuple[str, ...], min_severity: str | None, limit: int, as_json: bool) -> None:
    """Incidents by their current state, the most recently changed first."""
    from agentaudit.incident.queries import IncidentFilter, list_incidents
    from agentaudit.query import output
    from agentaudit.query.timeparse import parse_time
    from agentaudit.store import connect

    now = datetime.now(UTC)
    f = IncidentFilter(parse_time(since, now), parse_time(until, now), tenant, agent, statuses, min_severity, limit)
    client = connect(settings)
    try:
        found = list_incidents(client, settings.clickhouse_database, f)
    finally:
        client.close()
    rows = [_shown(c) for c in found]
    if as_json:
        if rows:
            click.echo(output.json_lines(rows))
        return
    columns = ("last_seen", "severity", "status", "tenant_id", "agent_id", "rule_id", "hit_count", "risk_score",
               "owner", "incident_id")
    click.echo(output.table(rows, columns))
    click.echo(f"{len(rows)} incidents", err=True)


@incidents.command("show")
@click.argument("incident_id")
@click.option("--json", "as_json", is_flag=True, help="The state and the timeline as one JSON object.")
@click.pass_obj
def show_command(settings: Settings, incident_id: str, as_json: bool) -> None:
    """One incident's state and its whole timeline, oldest entry first."""
    from agentaudit.incident.queries import incident_state, timeline
    from agentaudit.store import connect

    client = connect(settings)
    try:
        current = incident_state(client, settings.clickhouse_database, incident_id)
        entries = timeline(client, settings.clickhouse_database, incident_id) if current else []
    finally:
        client.close()
    if current is None:
        raise click.ClickException(f"no incident {incident_id}")
    shown = _shown(current)
    for entry in entries:
        entry["changed_at"] = _when(entry["changed_at"])
    if as_json:
        click.echo(json.dumps({**shown, "timeline": entries}, default=str))
        return
    for name, value in shown.items():
        click.echo(f"{name:>12}: {value}")
    click.echo("timeline:")
    for e in entries:
        line = f"  {e['changed_at']}  v{e['version']:<3} {e['change']:<12} {e['status']:<12} by {e['actor']}"
        extras = [f"hits={e['hit_count']}" if e["change"] in ("opened", "hits") else "",
                  f"owner={e['owner']}" if e["owner"] else "", f"note={e['note']!r}" if e["note"] else ""]
        click.echo(" ".join([line, *[x for x in extras if x]]))


def _lifecycle_command(change: str, verb: str, summary: str) -> click.Command:
    @click.argument("incident_id")
    @click.option("--actor", default=_default_actor, show_default="your login@host",
                  help="Who makes the change (your identity); recorded in the timeline.")
    @click.option("--note", help="What was found or done" + (" (required)." if change == "resolved" else "."))
    @click.option("--owner", help="Who owns the incident from now on.")
    @click.pass_obj
    def command(settings: Settings, incident_id: str, actor: str, note: str | None, owner: str | None) -> None:
        entry = _change(settings, incident_id, change, actor, note, owner)
        click.echo(f"incident {incident_id} {verb} by {actor} (timeline entry {entry['version']})")

    command.__doc__ = summary
    return click.command(verb)(command)


def _change(settings: Settings, incident_id: str, change: str, actor: str, note: str | None,
            owner: str | None) -> dict[str, Any]:
    from agentaudit.incident.lifecycle import lifecycle_entry
    from agentaudit.incident.publish import publish_entry
    from agentaudit.incident.queries import incident_state
    from agentaudit.store import connect

    client = connect(settings)
    try:
        current = incident_state(client, settings.clickhouse_database, incident_id)
    finally:
        client.close()
    if current is None:
        raise click.ClickException(f"no incident {incident_id}")
    entry = lifecycle_entry(current, change, actor, note, owner, time.time_ns() // 1000)
    publish_entry(settings, entry)
    return entry


def _when(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _shown(current: Current) -> dict[str, Any]:
    shown: dict[str, Any] = dict(current.__dict__)
    for name in ("first_seen", "last_seen", "changed_at"):
        shown[name] = _when(shown[name])
    return shown


incidents.add_command(_lifecycle_command("acknowledged", "ack", "Acknowledge an incident: someone is on it."))
incidents.add_command(_lifecycle_command(
    "contained", "contain", "Record that the incident is contained (e.g. the agent was suspended with "
    "`agentaudit agents suspend`, itself an audited registry change)."))
incidents.add_command(_lifecycle_command("resolved", "resolve", "Resolve an incident, with a note on what was "
                                         "found and done."))


@click.command("containment")
@click.pass_obj
def containment_command(settings: Settings) -> None:
    """Suspend agents automatically for critical incidents whose rule says `contain: true`.

    Consumes audit.incidents; each suspension is an audited registry change
    (actor agentaudit-containment, approver the rule), reaches the agent's
    runtime on agent.control, and is written to the incident's timeline as a
    'contained' entry. Reinstate an agent with `agentaudit agents reactivate`.
    Needs the pipeline keyring (it signs registry changes). Stops on SIGTERM
    or Ctrl-C.
    """
    import threading

    from agentaudit import metrics
    from agentaudit.codec.factory import make_codec
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.incident.containment import Containment, run_containment
    from agentaudit.incident.publish import publish_entry
    from agentaudit.keyring import Keyring
    from agentaudit.lag import incidents_group, start_lag_monitor
    from agentaudit.registry.store import RegistryWriter
    from agentaudit.signals import stop_on_signals

    bootstrap = resolve_bootstrap(settings)
    stop = threading.Event()
    stop_on_signals(stop, "containment")
    port = metrics.serve(settings.metrics_port, settings.metrics_host)
    start_lag_monitor(settings, bootstrap, incidents_group(settings, "containment"))
    click.echo(f"containment: following {settings.topic_prefix}audit.incidents on {bootstrap}, "
               + (f"metrics on port {port}" if port else "metrics off"), err=True)
    with RegistryWriter(settings, bootstrap, Keyring.load(settings)) as writer:
        containment = Containment(writer, lambda entry: publish_entry(settings, entry))
        run_containment(settings, bootstrap, containment, make_codec(settings), stop)
    click.echo("containment: stopped", err=True)
