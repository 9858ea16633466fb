"""`agentaudit alert`: route incidents to on-call, at least once."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import click

from agentaudit import metrics
from agentaudit.signals import stop_on_signals
from agentaudit.settings import Settings


@click.command("alert")
@click.option("--routes", "routes_file", envvar="AGENTAUDIT_ALERT_ROUTES", required=True,
              # read (and a missing file explained) at start, not at parsing: it is
              # often mounted into a container, where only the alerter can see it
              type=click.Path(dir_okay=False, path_type=Path),
              show_envvar=True, help="YAML routes file (see deploy/alert/routes.example.yaml).")
@click.option("--check", is_flag=True, help="Validate the routes file and the variables it names, print the routes, exit.")
@click.option("--metrics-port", type=int, default=None,
              help="Port for /metrics (0 picks one, -1 turns it off). Default: AGENTAUDIT_METRICS_PORT.")
@click.option("--backoff-initial-s", type=float, default=1.0, show_default=True,
              envvar="AGENTAUDIT_ALERT_BACKOFF_INITIAL_S", show_envvar=True, help="First retry delay; doubles per retry, with jitter.")
@click.option("--backoff-max-s", type=float, default=60.0, show_default=True,
              envvar="AGENTAUDIT_ALERT_BACKOFF_MAX_S", show_envvar=True, help="Longest retry delay (a Retry-After is honoured up to it).")
@click.option("--max-pending", type=int, default=1000, show_default=True, envvar="AGENTAUDIT_ALERT_MAX_PENDING", show_envvar=True,
              help="Incident entries in flight before reading pauses (a receiver that is down holds its entries).")
@click.option("--drain-s", type=float, default=5.0, show_default=True, envvar="AGENTAUDIT_ALERT_DRAIN_S", show_envvar=True,
              help="On SIGTERM, how long to keep delivering what was already read before stopping.")
@click.pass_obj
def alert_command(settings: Settings, routes_file: Path, check: bool, metrics_port: int | None,
                  backoff_initial_s: float, backoff_max_s: float, max_pending: int, drain_s: float) -> None:
    """Send incidents from audit.incidents to on-call: webhook, Slack, PagerDuty, Alertmanager.

    \b
    Which entries alert:  'opened' triggers; 'acknowledged' and 'resolved'
                          update or resolve where the receiver supports it;
                          'hits' never page (the same incident, de-duplicated).
    Where they go:        every route whose match (min_severity, tenants) fits.
    Secrets:              routing keys, header values and secret URLs come from
                          environment variables the routes file names; they are
                          never logged or recorded.

    Delivery is at least once. Connection errors, timeouts, 408, 429 and 5xx
    are retried with exponential backoff and jitter, without limit; redirects
    and other 4xx fail permanently (logged with topic[partition]@offset and
    counted). Each route has its own worker, so a receiver that is down holds
    up only itself. Offsets are committed only up to the oldest entry some
    route has not settled, so a crash or restart sends again exactly what was
    not confirmed; receivers de-duplicate by incident_id and change. Every
    attempt outcome is written to audit.alerts as an AlertDelivery record.
    Stops cleanly on SIGTERM or Ctrl-C.
    """
    from agentaudit.alert.backoff import Backoff
    from agentaudit.alert.routes import load_routes
    from agentaudit.alert.service import AlertOptions

    routes = load_routes(routes_file, os.environ)
    options = AlertOptions(routes, Backoff(backoff_initial_s, backoff_max_s), max_pending, drain_s)
    for route in routes:
        tenants = "every tenant" if route.tenants is None else ", ".join(sorted(route.tenants))
        click.echo(f"alert: route {route.name} ({route.kind}): {route.min_severity}+ for {tenants}", err=True)
    if check:
        return

    from agentaudit.admin import ensure_topics
    from agentaudit.alert.service import run_alerter
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.topics import Topic

    bootstrap = resolve_bootstrap(settings)
    ensure_topics(settings, bootstrap)
    stop = threading.Event()
    stop_on_signals(stop, "alert")
    port = metrics.serve(settings.metrics_port if metrics_port is None else metrics_port, settings.metrics_host)
    if port is not None:
        from agentaudit.lag import incidents_group, start_lag_monitor

        start_lag_monitor(settings.with_changes(metrics_port=port), bootstrap, incidents_group(settings, "alert"))
    click.echo(f"alert: {settings.topic(Topic.INCIDENTS)} on {bootstrap} -> {len(routes)} routes, deliveries to "
               f"{settings.topic(Topic.ALERTS)}, " + (f"metrics on port {port}" if port else "metrics off"), err=True)
    run_alerter(settings, bootstrap, options, stop)
    click.echo("alert: stopped", err=True)
