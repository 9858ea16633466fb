"""`agentaudit db …`: manage the ClickHouse schema."""

from __future__ import annotations

import click

from agentaudit.settings import Settings


@click.group("db")
def db() -> None:
    """ClickHouse schema: migrations from schemas/clickhouse."""


@db.command("migrate")
@click.pass_obj
def migrate_command(settings: Settings) -> None:
    """Create the database and apply pending migrations, in order.

    Idempotent: applied migrations are recorded in schema_migrations with a
    checksum, and a migration file changed after it was applied stops the run.
    """
    from agentaudit.store import connect, load_migrations, migrate

    client = connect(settings)
    try:
        applied = migrate(client, settings.clickhouse_database)
    finally:
        client.close()
    for migration in applied:
        click.echo(f"applied {migration.label}")
    total = len(load_migrations())
    click.echo(f"{settings.clickhouse_database}: {total} migrations applied, {len(applied)} new")


@db.command("status")
@click.pass_obj
def status_command(settings: Settings) -> None:
    """List migrations and whether each is applied."""
    from agentaudit.store import applied_migrations, connect, load_migrations

    client = connect(settings)
    try:
        applied = applied_migrations(client, settings.clickhouse_database)
    finally:
        client.close()
    for migration in load_migrations():
        done = applied.get(migration.version)
        state = f"applied {done.applied_at:%Y-%m-%d %H:%M:%S}" if done else "pending"
        if done and done.checksum != migration.checksum:
            state += " (CHANGED since applied)"
        click.echo(f"{migration.label:40} {state}")
