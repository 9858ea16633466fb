"""Wires the sink together: ClickHouse client, codec, consumer; runs until stopped."""

from __future__ import annotations

import logging
import threading

from agentaudit.codec import make_codec
from agentaudit.settings import Settings
from agentaudit.sink.consumer import Sink, make_consumer
from agentaudit.store import connect, migrate

log = logging.getLogger(__name__)


def run_sink(settings: Settings, bootstrap: str, stop: threading.Event, *, apply_migrations: bool = True) -> None:
    """Run the sink until `stop` is set, then flush, commit and close.

    Usable from a thread (the demo) as well as from `agentaudit sink`: it
    installs no signal handlers. It holds the embedded ClickHouse database for
    as long as it runs (chDB: one process per folder).
    """
    client = connect(settings)
    try:
        if apply_migrations:
            applied = migrate(client, settings.clickhouse_database)
            for migration in applied:
                log.info("applied migration %s", migration.label)
        sink = Sink(settings, make_consumer(settings, bootstrap), client, make_codec(settings))
        sink.run(stop)
    finally:
        client.close()
