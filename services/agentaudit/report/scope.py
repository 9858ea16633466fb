"""What a report covers -- a window on the pipeline's clock and a set of tenants -- and its SQL building blocks.

Every value reaches ClickHouse as a server-side parameter: the fragments
here only name parameters ({since_us}, {until_us}, {tenants}); the statement's
shape never depends on input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.errors import ConfigError
from agentaudit.evidence.formats import iso_us
from agentaudit.query.build import window_conditions
from agentaudit.query.timeparse import to_micros
from agentaudit.store.client import translate_errors

TENANT = "({tenants:Array(String)} = [] OR tenant_id IN {tenants:Array(String)})"
"""The tenant filter: an empty list stands for every tenant."""


def window(column: str) -> str:
    """`column` in [since, until). `column` is always one of this package's fixed names, never input."""
    return (f"{column} >= fromUnixTimestamp64Micro({{since_us:Int64}}, 'UTC') "
            f"AND {column} < fromUnixTimestamp64Micro({{until_us:Int64}}, 'UTC')")


# audit_records is sorted by (tenant_id, toDate(ingest_time), ...): the day
# bounds let the primary index skip to the window's days (see query/build.py).
RECORDS_WHERE = (
    f"{' AND '.join(window_conditions('ingest_time'))} "
    f"AND {TENANT}"
)
RECORDS = "{database:Identifier}.audit_records"


@dataclass(frozen=True)
class ReportScope:
    """The report's window [since, until) on ingest time (the pipeline's clock) and tenants (empty: all)."""

    database: str
    since: datetime
    until: datetime
    tenants: tuple[str, ...] = ()
    # The horizon by which every chain must be sealed (verify's --until); None: not checked.
    sealed_by: datetime | None = None

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ConfigError("the report window needs time zones (UTC)")
        if self.since >= self.until:
            raise ConfigError(f"--since ({self.since.isoformat()}) must be before --until ({self.until.isoformat()})")

    @property
    def since_us(self) -> int:
        return to_micros(self.since)

    @property
    def until_us(self) -> int:
        return to_micros(self.until)

    @property
    def tenant_scope(self) -> tuple[str, ...] | None:
        """The tenants as the API's functions take them: None for every tenant."""
        return self.tenants or None

    def params(self, **more: Any) -> dict[str, Any]:
        return {"database": self.database, "since_us": self.since_us, "until_us": self.until_us,
                "tenants": list(self.tenants), **more}

    def describe(self) -> dict[str, Any]:
        return {"since": iso_us(self.since_us), "until": iso_us(self.until_us),
                "tenants": list(self.tenants) or None}


def rows(client: Client, sql: str, params: Mapping[str, Any], what: str) -> list[tuple[Any, ...]]:
    with translate_errors(what):
        return [tuple(r) for r in client.query(sql, parameters=dict(params)).result_rows]


def iso(us: int | None) -> str | None:
    """Microseconds as ISO-8601 UTC; None and 0 (ClickHouse's empty time) as None."""
    return iso_us(int(us)) if us else None


def iso_dt(moment: datetime | None) -> str | None:
    """A time read from ClickHouse as ISO-8601 UTC: chDB hands DateTime64('UTC') back naive, a server aware."""
    if moment is None:
        return None
    return iso_us(to_micros(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)))
