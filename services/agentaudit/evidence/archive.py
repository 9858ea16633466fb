"""`agentaudit archive`: old months of audit data as an evidence bundle, for cold storage before TTL drops them.

An archive is an evidence bundle (export.py, schemas/chain.md) whose range is
whole calendar months of ingest time, UTC -- the audit tables' monthly
partitions -- so it can be written once a month, kept in cold storage
beyond the retention, and verified offline with `agentaudit verify --bundle`
like any bundle. Its manifest also names the months and the partitions of
each table the archive was cut from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.chain.seal import SealSigner
from agentaudit.errors import ConfigError
from agentaudit.evidence.export import ExportResult, export_bundle
from agentaudit.settings import Settings
from agentaudit.store.client import translate_errors

_MONTH = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")
# The tables whose monthly partitions the bundle holds (by ingest time and seal end, as partitioned).
ARCHIVED_TABLES = ("audit_records", "audit_seals")


def month_start(text: str, what: str) -> datetime:
    """The first instant (UTC) of month YYYY-MM."""
    found = _MONTH.match(text)
    if found is None or not 1 <= int(found["month"]) <= 12:
        raise ConfigError(f"{what} must be a month written YYYY-MM, not {text!r}")
    return datetime(int(found["year"]), int(found["month"]), 1, tzinfo=UTC)


def partitions(client: Client, database: str, first: datetime | None, before: datetime) -> dict[str, list[int]]:
    """The active monthly partitions (YYYYMM) of each archived table within [first, before)."""
    low = first.year * 100 + first.month if first is not None else 0
    high = before.year * 100 + before.month
    with translate_errors("listing partitions to archive"):
        rows = client.query(
            "SELECT table, toUInt32(partition) AS month FROM system.parts "
            "WHERE database = {database:String} AND active AND table IN {tables:Array(String)} "
            "AND month >= {low:UInt32} AND month < {high:UInt32} GROUP BY table, month ORDER BY table, month",
            parameters={"database": database, "tables": list(ARCHIVED_TABLES), "low": low, "high": high},
        ).result_rows
    found: dict[str, list[int]] = {table: [] for table in ARCHIVED_TABLES}
    for table, month in rows:
        found[str(table)].append(int(month))
    return found


def archive_months(
    client: Client,
    settings: Settings,
    out: Path,
    *,
    before: str,
    first: str | None,
    signer: SealSigner,
    public_keys_document: Mapping[str, Any],
    exported_at_us: int,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> tuple[ExportResult, dict[str, list[int]]]:
    """Write the months [first, before) (first None: from every chain's start) as a bundle in `out`.

    Returns the export's result and the partitions it covers. The range is
    export's own: records ingested before the month `before` starts, every
    seal that starts before it (so the last records are sealed in the
    archive too) and the records those seals sign.
    """
    until = month_start(before, "--before")
    since = month_start(first, "--from") if first is not None else None
    if since is not None and since >= until:
        raise ConfigError(f"--from {first} must be a month before --before {before}")
    covered = partitions(client, settings.clickhouse_database, since, until)
    result = export_bundle(
        client, settings, out, agents=[], since=since, until=until, signer=signer,
        public_keys_document=public_keys_document, exported_at_us=exported_at_us, progress=progress, total=total,
        archive={"from": first, "before": before, "partitions": covered},
    )
    return result, covered
