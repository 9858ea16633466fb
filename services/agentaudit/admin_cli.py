"""`agentaudit topics ensure`: the pipeline's Kafka topics, on any cluster."""

from __future__ import annotations

import click

from agentaudit.settings import Settings


@click.group()
def topics() -> None:
    """The pipeline's Kafka topics (names from AGENTAUDIT_TOPIC_PREFIX)."""


@topics.command("ensure")
@click.pass_obj
def ensure(settings: Settings) -> None:
    """Create the missing topics with AGENTAUDIT_PARTITIONS partitions and their settings.

    Topics that exist are checked instead: the same partition count for all,
    and broker-stamped time (LogAppendTime) on agent.actions. The agent
    registry (agent.registry) has one partition and is kept forever. A mismatch
    is an error that names the topic and the fix. Safe to run any number of times.
    """
    from agentaudit.admin import ensure_topics
    from agentaudit.dev.kafka import resolve_bootstrap

    created = ensure_topics(settings, resolve_bootstrap(settings))
    click.echo("created: " + ", ".join(created) if created else "all topics exist and are configured as required")
