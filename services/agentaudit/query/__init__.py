"""Time-bounded audit queries over ClickHouse: building (pure), running, formatting.

The time filter is always on ingest_time, the pipeline's clock (invariant 6);
every value is bound as a server-side parameter, never formatted into SQL.

run_query and summary are imported on first use: they need clickhouse-connect,
and commands that only parse times (timeparse) -- among them the offline
`agentaudit verify --bundle` an auditor runs -- must not load a database client.
"""

from typing import TYPE_CHECKING, Any

from agentaudit.query.build import Filters, Query, records_query, rejections_query
from agentaudit.query.timeparse import parse_time

if TYPE_CHECKING:
    from agentaudit.query.run import run_query, summary

__all__ = ["Filters", "Query", "parse_time", "records_query", "rejections_query", "run_query", "summary"]


def __getattr__(name: str) -> Any:
    if name in ("run_query", "summary"):
        from agentaudit.query import run

        return getattr(run, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
