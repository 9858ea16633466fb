"""The sink's decisions without Kafka or ClickHouse: what it inserts, what it
drops as a replay, and that it commits only after an insert was accepted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, TopicPartition

from agentaudit.codec import SingleObjectCodec
from agentaudit.errors import TransientError
from agentaudit.settings import Settings
from agentaudit.sink.consumer import Sink
from agentaudit.sink.rows import RECORDS_TABLE, REJECTIONS_TABLE, SINK_DECODE, Row
from tests.sink_support import BASE_US, record, rejection

codec = SingleObjectCodec()
SETTINGS = Settings(topic_prefix="t.", sink_batch=1000, sink_linger_s=10.0)
RECORDS, REJECTED = "t.audit.records", "t.audit.rejected"


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None
    _key: bytes | None = b"agent-0"

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_LOG_APPEND_TIME, BASE_US // 1000

    def error(self) -> None:
        return None


@dataclass
class FakeConsumer:
    commits: list[list[tuple[str, int, int]]] = field(default_factory=list)
    paused: bool = False

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        assert asynchronous is False
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(RECORDS, 0)]

    def pause(self, _partitions: list[TopicPartition]) -> None:
        self.paused = True

    def resume(self, _partitions: list[TopicPartition]) -> None:
        self.paused = False


@dataclass
class FakeWriter:
    fail: int = 0
    inserts: list[tuple[str, list[Row], str]] = field(default_factory=list)
    consumer: FakeConsumer | None = None
    commits_seen: list[int] = field(default_factory=list)

    def insert(self, table: str, rows: list[Row], token: str, ranges: Any = ()) -> None:
        if self.consumer is not None:
            self.commits_seen.append(len(self.consumer.commits))
        if self.fail:
            self.fail -= 1
            raise TransientError("down")
        self.inserts.append((table, rows, token))


class StoredMarks:
    """A client whose tables already hold rows up to the given source offsets."""

    def __init__(self, marks: dict[str, list[tuple[str, int, int]]]) -> None:
        self.marks = marks

    def query(self, sql: str) -> Any:
        table = RECORDS_TABLE if RECORDS_TABLE in sql else REJECTIONS_TABLE
        return type("R", (), {"result_rows": self.marks.get(table, [])})()


def make_sink(marks: dict[str, list[tuple[str, int, int]]] | None = None, fail: int = 0) -> tuple[Sink, FakeConsumer, FakeWriter]:
    consumer = FakeConsumer()
    writer = FakeWriter(fail=fail, consumer=consumer)
    now = [0.0]
    sink = Sink(SETTINGS, consumer, StoredMarks(marks or {}), codec, writer=writer, clock=lambda: now[0])  # type: ignore[arg-type]
    sink._load_marks()
    return sink, consumer, writer


def rec_msg(kafka_offset: int, source_offset: int, partition: int = 0) -> FakeMessage:
    return FakeMessage(RECORDS, partition, kafka_offset, codec.encode("AuditRecord", record(source_offset, partition)))


def test_records_and_rejections_go_to_their_tables_then_commit() -> None:
    sink, consumer, writer = make_sink()
    sink.handle(rec_msg(0, 10))
    sink.handle(FakeMessage(REJECTED, 0, 0, codec.encode("Rejection", rejection(11))))
    assert sink.flush()
    assert [(t, len(rows)) for t, rows, _ in writer.inserts] == [(RECORDS_TABLE, 1), (REJECTIONS_TABLE, 1)]
    assert consumer.commits == [[(RECORDS, 0, 1), (REJECTED, 0, 1)]]
    assert writer.commits_seen == [0, 0]  # both inserts happened before the commit


def test_replays_are_dropped_but_committed() -> None:
    sink, consumer, writer = make_sink(marks={RECORDS_TABLE: [("agent.actions", 0, 10)]})
    for kafka_offset, source_offset in enumerate([9, 10, 11, 12, 11, 12, 13]):
        sink.handle(rec_msg(kafka_offset, source_offset))
    sink.flush()
    (table, rows, _), = writer.inserts
    assert [r[39] for r in rows] == [11, 12, 13]  # source_offset column
    assert consumer.commits == [[(RECORDS, 0, 7)]]


def test_undecodable_messages_are_stored_as_sink_decode() -> None:
    sink, consumer, writer = make_sink()
    sink.handle(FakeMessage(RECORDS, 2, 5, b"\xc3\x01not really avro"))
    sink.handle(FakeMessage(REJECTED, 1, 8, None))
    sink.flush()
    (table, rows, _), = writer.inserts
    assert table == REJECTIONS_TABLE
    assert [(r[0], r[2], r[3], r[4]) for r in rows] == [(SINK_DECODE, RECORDS, 2, 5), (SINK_DECODE, REJECTED, 1, 8)]
    assert rows[0][7] == b"\xc3\x01not really avro"
    # replaying the same undecodable message is dropped by its own offset
    sink.handle(FakeMessage(RECORDS, 2, 5, b"\xc3\x01not really avro"))
    sink.flush()
    assert len(writer.inserts) == 1


def test_no_commit_while_clickhouse_is_down_and_retry_uses_same_tokens() -> None:
    sink, consumer, writer = make_sink(fail=1)
    sink.handle(rec_msg(0, 0))
    sink.handle(rec_msg(1, 1))
    assert not sink.flush()
    assert consumer.commits == [] and consumer.paused
    assert sink.flush()
    assert consumer.commits == [[(RECORDS, 0, 2)]] and not consumer.paused
    assert len(writer.inserts) == 1


def test_tables_inserted_before_a_failure_are_not_inserted_again() -> None:
    sink, consumer, writer = make_sink()
    sink.handle(rec_msg(0, 0))
    sink.handle(FakeMessage(REJECTED, 0, 0, codec.encode("Rejection", rejection(1))))
    calls = {"n": 0}
    original = writer.insert

    def fail_on_rejections(table: str, rows: list[Row], token: str, ranges: Any = ()) -> None:
        calls["n"] += 1
        if table == REJECTIONS_TABLE and calls["n"] == 2:
            raise TransientError("down")
        original(table, rows, token, ranges)

    writer.insert = fail_on_rejections  # type: ignore[method-assign]
    assert not sink.flush()
    assert sink.flush()
    assert [t for t, _, _ in writer.inserts] == [RECORDS_TABLE, REJECTIONS_TABLE]
    assert len(consumer.commits) == 1


def test_a_batch_crossing_a_month_is_inserted_one_month_at_a_time() -> None:
    sink, _, writer = make_sink()
    jan_end = 1_738_367_999_000_000  # 2025-01-31T23:59:59Z
    for i, ingest in enumerate([jan_end, jan_end + 2_000_000, jan_end + 3_000_000]):
        sink.handle(FakeMessage(RECORDS, 0, i, codec.encode("AuditRecord", record(i, ingest_us=ingest))))
    sink.flush()
    assert [len(rows) for _, rows, _ in writer.inserts] == [1, 2]
    assert writer.inserts[0][2] != writer.inserts[1][2]


def test_dropping_pending_rows_forgets_their_marks() -> None:
    sink, consumer, writer = make_sink()
    sink.handle(rec_msg(0, 0))
    sink._drop_pending()
    sink._load_marks()
    sink.handle(rec_msg(0, 0))  # read again after the rebalance: admitted
    sink.flush()
    assert len(writer.inserts[0][1]) == 1


def test_a_mostly_undecodable_batch_raises_the_alarm(caplog: pytest.LogCaptureFixture) -> None:
    from agentaudit.metrics import SINK_DECODE_ALARM

    sink, _, _ = make_sink()
    for i in range(150):
        sink.handle(FakeMessage(RECORDS, 0, i, b"garbage" if i < 100 else codec.encode("AuditRecord", record(i))))
    sink.flush()
    assert SINK_DECODE_ALARM._value.get() == 1
    assert "decode alarm: 100 of 150" in caplog.text
    for i in range(150, 300):
        sink.handle(rec_msg(i, i))
    sink.flush()
    assert SINK_DECODE_ALARM._value.get() == 0


def test_waiting_for_clickhouse_does_not_spin() -> None:
    sink, _, _ = make_sink(fail=1)
    sink.handle(rec_msg(0, 0))
    assert not sink.flush()
    assert sink._poll_timeout() > 0  # consume() blocks until the retry instead of returning at once


def test_stopping_while_clickhouse_is_down_is_an_error() -> None:
    sink, consumer, _ = make_sink(fail=10)
    sink.handle(rec_msg(0, 0))
    with pytest.raises(TransientError, match="rows not stored"):
        sink._final_flush()
    assert consumer.commits == []
