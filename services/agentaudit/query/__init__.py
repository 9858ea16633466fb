"""Time-bounded audit queries over ClickHouse: building (pure), running, formatting.

The time filter is always on ingest_time, the pipeline's clock (invariant 6);
every value is bound as a server-side parameter, never formatted into SQL.
"""

from agentaudit.query.build import Filters, Query, records_query, rejections_query
from agentaudit.query.run import run_query, summary
from agentaudit.query.timeparse import parse_time

__all__ = ["Filters", "Query", "parse_time", "records_query", "rejections_query", "run_query", "summary"]
