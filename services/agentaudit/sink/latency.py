"""End-to-end latency of stored audit records, for agentaudit_pipeline_end_to_end_seconds."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client import Histogram

from agentaudit.metrics import PIPELINE_END_TO_END
from agentaudit.sink.rows import RECORD_COLUMNS, Row

AGENT_TIME = RECORD_COLUMNS.index("agent_time")
INGEST_TIME = RECORD_COLUMNS.index("ingest_time")


def observe_end_to_end(
    rows: Iterable[Row], now_s: float | None = None, histogram: Histogram = PIPELINE_END_TO_END
) -> None:
    """Observe, for each audit_records row ClickHouse just accepted, its age since emit and since ingest.

    An agent clock running ahead would give a negative age; it counts as 0
    (the skew itself is stored per record, clock_skew_ms).
    """
    now_us = (time.time() if now_s is None else now_s) * 1e6
    since_emit, since_ingest = histogram.labels(since="emit"), histogram.labels(since="ingest")
    for row in rows:
        since_emit.observe(max(0.0, (now_us - row[AGENT_TIME]) / 1e6))
        since_ingest.observe(max(0.0, (now_us - row[INGEST_TIME]) / 1e6))
