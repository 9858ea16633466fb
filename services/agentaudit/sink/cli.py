"""`agentaudit sink`: store audit.records and audit.rejected in ClickHouse."""

from __future__ import annotations

import threading

import click

from agentaudit import metrics
from agentaudit.signals import stop_on_signals
from agentaudit.settings import Settings
from agentaudit.topics import Topic

# The topics agentaudit.sink.consumer.Sink subscribes to, whose lag the sink
# reports (tests/unit/test_lag.py keeps the two lists the same).
SUBSCRIBED = (Topic.RECORDS, Topic.REJECTED, Topic.SEALS, Topic.REGISTRY, Topic.INCIDENTS, Topic.ALERTS)


@click.command("sink")
@click.option("--migrate/--no-migrate", "apply_migrations", default=True, show_default=True,
              help="Apply pending ClickHouse migrations before starting (as `agentaudit db migrate`).")
@click.pass_obj
def sink_command(settings: Settings, apply_migrations: bool) -> None:
    """Store audit records, rejections, seals, incidents, alert deliveries and the registry in ClickHouse, once.

    Consumes audit.records, audit.rejected, audit.seals, audit.incidents,
    audit.alerts and agent.registry, inserts in batches
    (AGENTAUDIT_SINK_BATCH rows or AGENTAUDIT_SINK_LINGER_S seconds) and
    commits Kafka offsets only after ClickHouse accepted a batch; replays are
    dropped by source partition and offset. A message it cannot decode is
    stored as a rejection with reason sink_decode. Stops cleanly on SIGTERM or
    Ctrl-C. With the embedded database, `agentaudit query` can read it only
    once the sink has stopped (use a ClickHouse server to query while it runs).
    """
    from agentaudit.admin import ensure_topics
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.lag import sink_group, start_lag_monitor
    from agentaudit.sink.service import run_sink

    bootstrap = resolve_bootstrap(settings)
    ensure_topics(settings, bootstrap)
    stop = threading.Event()
    stop_on_signals(stop, "sink", "flushing and stopping")
    port = metrics.serve(settings.metrics_port, settings.metrics_host)
    start_lag_monitor(settings, bootstrap, sink_group(settings, SUBSCRIBED))
    click.echo(
        f"sink: {', '.join(settings.topic(t) for t in SUBSCRIBED)} on {bootstrap} -> "
        f"{settings.clickhouse_url.split('@')[-1]} database {settings.clickhouse_database}, "
        + (f"metrics on port {port}" if port else "metrics off"),
        err=True,
    )
    run_sink(settings, bootstrap, stop, apply_migrations=apply_migrations)
    click.echo("sink: stopped", err=True)
