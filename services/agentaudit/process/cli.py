"""`agentaudit process`: run the processor (a faust worker)."""

from __future__ import annotations

import logging

import click

from agentaudit import metrics
from agentaudit.settings import Settings


@click.command("process")
@click.option("--loglevel", default="warning", show_default=True, help="faust worker log level.")
@click.pass_obj
def process_command(settings: Settings, loglevel: str) -> None:
    """Validate actions from agent.actions and write audit records.

    Each action becomes an AuditRecord on audit.records, stamped with the
    broker's ingest time and linked into its agent's hash chain, or a
    Rejection on audit.rejected with its reason and original bytes. Every
    AGENTAUDIT_SEAL_EVERY_RECORDS records and every AGENTAUDIT_SEAL_INTERVAL_S
    seconds, also when idle, each chain is sealed (audit.seals), signed with
    the pipeline key (`agentaudit keys init` creates it). Topics are created if
    missing. Stops cleanly on SIGTERM or Ctrl-C; run several to share the
    partitions of one consumer group.
    """
    from faust import Worker

    from agentaudit.admin import ensure_topics
    from agentaudit.codec import make_codec
    from agentaudit.dev.kafka import resolve_bootstrap
    from agentaudit.crypto import load_kek
    from agentaudit.keyring import Keyring
    from agentaudit.lag import processor_group, start_lag_monitor
    from agentaudit.process.app import make_app
    from agentaudit.process.attribute import CachingSecretOpener
    from agentaudit.registry.secrets import KekSecretOpener
    from agentaudit.registry.store import RegistryFollower

    keyring = Keyring.load(settings)  # before anything starts: no key, no seals, no processor
    kek = load_kek(settings)
    secrets = CachingSecretOpener(KekSecretOpener(kek))
    bootstrap = resolve_bootstrap(settings)
    ensure_topics(settings, bootstrap)
    codec = make_codec(settings)
    # The whole registry, verified entry by entry against the pipeline's keys
    # (re-read from the keyring after a rotation), then followed.
    registry = RegistryFollower(
        settings, bootstrap, keyring.public_keys(), codec=codec,
        refresh_keys=lambda: Keyring.load(settings).public_keys(),
    )
    registry.sync()
    port = metrics.serve(settings.metrics_port, settings.metrics_host)
    start_lag_monitor(settings, bootstrap, processor_group(settings))
    # Erase controls (privacy.erasure) must be signed by a pipeline key, re-read after a rotation.
    app = make_app(settings, bootstrap, codec, keyring, registry, secrets, kek,
                   lambda: Keyring.load(settings).public_keys())
    click.echo(
        f"processor: {settings.topic_prefix}agent.actions on {bootstrap}, sealing with key {keyring.current_key_id}, "
        f"metrics on port {port}",
        err=True,
    )
    worker = Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    logging.getLogger("faust").setLevel(loglevel.upper())
    worker.execute_from_commandline()
