"""Inserts one batch of rows into one ClickHouse table, retrying transient failures.

A retried insert carries the same insert_deduplication_token as the first
attempt, so when the first attempt did land (the answer was lost, not the
insert) ClickHouse drops the copy; the tables' non_replicated_deduplication_window
makes that work without replication.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from agentaudit.errors import TransientError
from agentaudit.metrics import SINK_BATCH, SINK_INSERT_LATENCY, SINK_INSERT_RETRIES, SINK_ROWS
from agentaudit.sink.rows import COLUMNS, Row
from agentaudit.store.client import StoreError, quote_identifier, translate_errors

log = logging.getLogger(__name__)

# (topic, partition, first offset, last offset) of the Kafka messages whose rows
# make up one insert.
OffsetRange = tuple[str, int, int, int]


def dedup_token(table: str, ranges: Iterable[OffsetRange]) -> str:
    """A token naming the Kafka messages behind one insert into `table`.

    The same messages give the same token, whatever order they arrived in; so
    does a subset of rows from the same messages, which can only happen when
    the other rows were already stored, so dropping the insert is still right.
    """
    described = ";".join(f"{t}[{p}]{first}-{last}" for t, p, first, last in sorted(ranges))
    return f"agentaudit:{table}:{hashlib.sha256(described.encode()).hexdigest()[:40]}"


def describe_ranges(ranges: Iterable[OffsetRange]) -> str:
    """topic[partition]@first-last, for logs."""
    return ", ".join(f"{t}[{p}]@{first}-{last}" for t, p, first, last in sorted(ranges))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for transient insert failures; after `attempts`,
    the TransientError reaches the caller, which keeps the batch and its
    offsets uncommitted."""

    attempts: int = 5
    first_delay_s: float = 0.2
    max_delay_s: float = 5.0

    def delays(self) -> list[float]:
        return [min(self.first_delay_s * 2**i, self.max_delay_s) for i in range(self.attempts - 1)]


class BatchWriter:
    """Inserts batches into the tables of one database.

    Blocking contract: insert() returns once ClickHouse has accepted every row,
    or raises TransientError (retries exhausted; nothing may be committed) or
    StoreError (ClickHouse refused the statement; retrying cannot help).
    """

    def __init__(
        self,
        client: Client,
        database: str,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.database = quote_identifier(database)
        self.policy = policy or RetryPolicy()
        self.sleep = sleep

    def insert(self, table: str, rows: Sequence[Row], token: str, ranges: Sequence[OffsetRange] = ()) -> None:
        if not rows:
            return
        started = time.monotonic()
        delays = self.policy.delays()
        for attempt in range(len(delays) + 1):
            try:
                with translate_errors(f"inserting {len(rows)} rows into {table}"):
                    self.client.insert(
                        f"{self.database}.{table}",
                        rows,
                        column_names=list(COLUMNS[table]),
                        settings={"insert_deduplication_token": token},
                    )
                break
            except TransientError as exc:
                if attempt == len(delays):
                    log.error("insert into %s of %s failed %d times: %s", table, describe_ranges(ranges), attempt + 1, exc)
                    raise
                SINK_INSERT_RETRIES.labels(table=table).inc()
                log.warning(
                    "insert into %s of %s failed (attempt %d), retrying in %.1fs: %s",
                    table, describe_ranges(ranges), attempt + 1, delays[attempt], exc,
                )
                self.sleep(delays[attempt])
            except StoreError as exc:
                log.critical("ClickHouse refused the insert into %s of %s: %s", table, describe_ranges(ranges), exc)
                raise
        SINK_INSERT_LATENCY.observe(time.monotonic() - started)
        SINK_BATCH.observe(len(rows))
        SINK_ROWS.labels(table=table).inc(len(rows))
