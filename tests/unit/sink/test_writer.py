from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DataError, OperationalError

from agentaudit.errors import TransientError
from agentaudit.sink.rows import RECORD_COLUMNS
from agentaudit.sink.writer import BatchWriter, RetryPolicy, dedup_token
from agentaudit.store.client import StoreError


class FlakyClient:
    """Records insert calls; raises the given errors first."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[dict[str, Any]] = []

    def insert(self, table: str, rows: Any, column_names: list[str], settings: dict[str, Any]) -> None:
        self.calls.append({"table": table, "rows": list(rows), "columns": column_names, "settings": settings})
        if self.errors:
            raise self.errors.pop(0)


def test_token_depends_on_offsets_not_order() -> None:
    a = dedup_token("audit_records", [("r", 0, 1, 5), ("r", 1, 3, 4)])
    assert a == dedup_token("audit_records", [("r", 1, 3, 4), ("r", 0, 1, 5)])
    assert a != dedup_token("audit_records", [("r", 0, 1, 6), ("r", 1, 3, 4)])
    assert a != dedup_token("audit_rejections", [("r", 0, 1, 5), ("r", 1, 3, 4)])


def test_transient_failures_are_retried_with_the_same_token() -> None:
    client = FlakyClient(OperationalError("timeout"), OperationalError("timeout"))
    sleeps: list[float] = []
    writer = BatchWriter(client, "db", RetryPolicy(attempts=3, first_delay_s=0.1), sleep=sleeps.append)  # type: ignore[arg-type]
    writer.insert("audit_records", [("row",)], "tok-1")
    assert len(client.calls) == 3 and sleeps == [0.1, 0.2]
    assert {c["settings"]["insert_deduplication_token"] for c in client.calls} == {"tok-1"}
    assert client.calls[0]["table"] == "`db`.audit_records" and client.calls[0]["columns"] == list(RECORD_COLUMNS)


def test_retries_end_in_transient_error() -> None:
    client = FlakyClient(*[OperationalError("down")] * 3)
    writer = BatchWriter(client, "db", RetryPolicy(attempts=3), sleep=lambda _s: None)  # type: ignore[arg-type]
    with pytest.raises(TransientError):
        writer.insert("audit_records", [("row",)], "tok")


def test_permanent_failures_are_not_retried() -> None:
    client = FlakyClient(DataError("bad"))
    writer = BatchWriter(client, "db", sleep=lambda _s: None)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        writer.insert("audit_records", [("row",)], "tok")
    assert len(client.calls) == 1


def test_empty_batches_are_not_sent() -> None:
    client = FlakyClient()
    BatchWriter(client, "db").insert("audit_records", [], "tok")  # type: ignore[arg-type]
    assert client.calls == []
