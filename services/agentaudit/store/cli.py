"""`agentaudit db …`: manage the ClickHouse schema and the audit tables' retention."""

from __future__ import annotations

import click

from agentaudit.settings import RETENTION_FLOOR_DAYS, Settings


@click.group("db")
def db() -> None:
    """ClickHouse schema: migrations from schemas/clickhouse, and retention (table TTLs)."""


@db.command("migrate")
@click.pass_obj
def migrate_command(settings: Settings) -> None:
    """Create the database, apply pending migrations in order, then make the TTLs match the retention.

    Idempotent: applied migrations are recorded in schema_migrations with a
    checksum, and a migration file changed after it was applied stops the run.

    Retention: every audit table's TTL is set to AGENTAUDIT_RETENTION_DAYS
    (default 400; below 365 only with AGENTAUDIT_RETENTION_FORCE=true). Only a
    table whose TTL differs is altered (ALTER TABLE … MODIFY TTL, metadata
    only: no part is rewritten), and each change is recorded in
    retention_changes. Needs the admin account on a ClickHouse server.
    """
    from agentaudit.store import connect, load_migrations, migrate
    from agentaudit.store.retention import apply_retention

    days = settings.retention_days
    if days < RETENTION_FLOOR_DAYS:
        click.secho(f"WARNING: retention forced to {days} days, below the {RETENTION_FLOOR_DAYS}-day floor "
                    "SOC 2 auditors expect (AGENTAUDIT_RETENTION_FORCE); recorded in retention_changes",
                    err=True, fg="red", bold=True)
    client = connect(settings)
    try:
        applied = migrate(client, settings.clickhouse_database)
        changes = apply_retention(client, settings.clickhouse_database, days, forced=settings.retention_force)
    finally:
        client.close()
    for migration in applied:
        click.echo(f"applied {migration.label}")
    total = len(load_migrations())
    click.echo(f"{settings.clickhouse_database}: {total} migrations applied, {len(applied)} new")
    for change in changes:
        click.echo(f"retention of {change.table}: {change.previous_days} -> {change.days} days "
                   f"(TTL on {change.column})")
    if not changes:
        click.echo(f"retention: every audit table keeps rows {days} days")


@db.command("status")
@click.pass_obj
def status_command(settings: Settings) -> None:
    """List migrations and whether each is applied; then each table's retention.

    Retention: the TTL each table has on the server (from system.tables), its
    rows and the oldest time still stored, whether it meets the 365-day
    floor and the setting, and the recorded retention changes.
    """
    from agentaudit.store import applied_migrations, connect, load_migrations
    from agentaudit.store.retention import retention_history, retention_status

    client = connect(settings)
    try:
        applied = applied_migrations(client, settings.clickhouse_database)
        tables = retention_status(client, settings.clickhouse_database)
        history = retention_history(client, settings.clickhouse_database)
    finally:
        client.close()
    for migration in load_migrations():
        done = applied.get(migration.version)
        state = f"applied {done.applied_at:%Y-%m-%d %H:%M:%S}" if done else "pending"
        if done and done.checksum != migration.checksum:
            state += " (CHANGED since applied)"
        click.echo(f"{migration.label:40} {state}")
    click.echo(f"\nretention: AGENTAUDIT_RETENTION_DAYS={settings.retention_days} "
               f"(floor {RETENTION_FLOOR_DAYS} days)")
    for status in tables:
        ttl = status.ttl
        oldest = f"oldest {status.oldest:%Y-%m-%d %H:%M}" if status.oldest is not None else "empty"
        if ttl.expression is None:
            click.echo(f"  {ttl.table:24} no TTL: kept forever ({status.rows:,} rows)")
            continue
        if ttl.days is None:
            click.echo(f"  {ttl.table:24} TTL {ttl.expression}: not managed by agentaudit ({status.rows:,} rows)")
            continue
        notes = [] if status.meets_floor else [f"BELOW THE {RETENTION_FLOOR_DAYS}-DAY FLOOR"]
        if ttl.days != settings.retention_days:
            notes.append("differs from the setting: run `agentaudit db migrate`")
        click.echo(f"  {ttl.table:24} {ttl.column} + {ttl.days} days, {status.rows:,} rows, {oldest}"
                   + (f"  {'; '.join(notes)}" if notes else "  ok"))
    for entry in history:
        click.echo(f"  changed {entry.changed_at:%Y-%m-%d %H:%M:%S} {entry.table}: {entry.previous_days} -> "
                   f"{entry.days} days by {entry.db_user or '?'} ({entry.os_user or '?'}@{entry.host or '?'})"
                   + ("  FORCED below the floor" if entry.forced else ""))

