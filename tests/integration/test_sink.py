"""The sink against real Kafka and ClickHouse: every message stored exactly once,
also across replays from the processor and SIGKILLs of the sink itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from clickhouse_connect.driver.client import Client
from confluent_kafka import Consumer, Producer, TopicPartition

from agentaudit.codec import SingleObjectCodec
from agentaudit.settings import Settings
from agentaudit.sink.rows import SINK_DECODE
from agentaudit.sink.service import run_sink
from agentaudit.store import quote_identifier
from agentaudit.topics import Topic
from tests.pipeline_support import wait_for
from tests.sink_support import record, rejection

pytestmark = pytest.mark.integration
codec = SingleObjectCodec()
from tests.integration.conftest import SINK_PARTITIONS as PARTITIONS  # the sink_settings fixture's


# -- helpers ------------------------------------------------------------------

Message = tuple[Topic, int, bytes | None, bytes | None]  # logical topic, partition, key, value


def records(partition: int, offsets: range) -> list[Message]:
    return [(Topic.RECORDS, partition, f"agent-{partition}".encode(), codec.encode("AuditRecord", record(o, partition)))
            for o in offsets]


def rejections(partition: int, offsets: range) -> list[Message]:
    return [(Topic.REJECTED, partition, f"agent-{partition}".encode(), codec.encode("Rejection", rejection(o, partition)))
            for o in offsets]


def produce(settings: Settings, messages: list[Message]) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 5})
    for topic, partition, key, value in messages:
        while True:
            try:
                producer.produce(settings.topic(topic), value, key, partition=partition)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(30) == 0


def committed(settings: Settings) -> dict[tuple[str, int], int]:
    """The sink group's committed offsets (absent partitions: nothing committed)."""
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"{settings.topic_prefix}agentaudit-sink"})
    try:
        wanted = [TopicPartition(settings.topic(t), p) for t in (Topic.RECORDS, Topic.REJECTED) for p in range(PARTITIONS)]
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(wanted, timeout=10) if tp.offset >= 0}
    finally:
        consumer.close()


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": "probe"})
    try:
        out = {}
        for t in (Topic.RECORDS, Topic.REJECTED):
            for p in range(PARTITIONS):
                _low, high = consumer.get_watermark_offsets(TopicPartition(settings.topic(t), p), timeout=10)
                if high > 0:
                    out[(settings.topic(t), p)] = high
        return out
    finally:
        consumer.close()


STORED_SQL = {
    "records": "SELECT source_partition, source_offset FROM {db}.audit_records",
    "rejections": "SELECT reason_code, source_topic, source_partition, source_offset FROM {db}.audit_rejections",
}


def stored(client: Client, database: str) -> dict[str, list[tuple[Any, ...]]]:
    db = quote_identifier(database)
    return {name: sorted(tuple(r) for r in client.query(sql.format(db=db)).result_rows) for name, sql in STORED_SQL.items()}


@contextmanager
def running_sink(settings: Settings) -> Iterator[threading.Event]:
    """The sink in a thread of this process (same chDB folder as the test's client)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run_sink(settings, settings.kafka_bootstrap, stop)
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    thread = threading.Thread(target=target, name="sink", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(60)
        assert not thread.is_alive(), "sink did not stop within 60s"
    if errors:
        raise errors[0]


# -- tests --------------------------------------------------------------------


def test_records_rejections_and_garbage_land_exactly_once(sink_settings: Settings, clickhouse: Client) -> None:
    messages = [m for p in range(PARTITIONS) for m in records(p, range(250))]
    messages += rejections(0, range(250, 260)) + rejections(1, range(250, 260))
    garbage = [(Topic.RECORDS, 2, b"agent-2", b"not avro at all"), (Topic.REJECTED, 3, None, None),
               (Topic.RECORDS, 1, b"agent-1", b"\xc3\x01" + b"\x00" * 8 + b"unknown fingerprint")]
    produce(sink_settings, messages + garbage)
    db = sink_settings.clickhouse_database

    with running_sink(sink_settings):
        wait_for("all rows", lambda: sum(map(len, stored(clickhouse, db).values())) >= 1000 + 20 + 3)
        wait_for("offsets committed", lambda: committed(sink_settings) == end_offsets(sink_settings))

    rows = stored(clickhouse, db)
    assert rows["records"] == [(p, o) for p in range(PARTITIONS) for o in range(250)]
    processor_rejections = [r for r in rows["rejections"] if r[0] != SINK_DECODE]
    assert processor_rejections == [("not_avro", "agent.actions", p, o) for p in (0, 1) for o in range(250, 260)]
    decoded_here = sorted((r[1], r[2]) for r in rows["rejections"] if r[0] == SINK_DECODE)
    assert decoded_here == sorted([(sink_settings.topic(Topic.RECORDS), 1), (sink_settings.topic(Topic.RECORDS), 2),
                                   (sink_settings.topic(Topic.REJECTED), 3)])
    originals = {bytes(r[0]) for r in clickhouse.query(
        f"SELECT original FROM {quote_identifier(db)}.audit_rejections WHERE reason_code = {{c:String}}",
        parameters={"c": SINK_DECODE}, column_formats={"original": "bytes"}).result_rows}
    assert originals == {b"not avro at all", b"", b"\xc3\x01" + b"\x00" * 8 + b"unknown fingerprint"}
    # the record column holds the message's bytes exactly as consumed
    produced = {(m[1], i): m[3] for i, m in enumerate(messages[:250])}
    sample = clickhouse.query(
        f"SELECT record FROM {quote_identifier(db)}.audit_records WHERE source_partition = 0 AND source_offset = 7",
        column_formats={"record": "bytes"}).result_rows[0][0]
    assert sample == produced[(0, 7)]


def test_replayed_outputs_are_stored_once(sink_settings: Settings, clickhouse: Client) -> None:
    # The processor crashed twice on partition 0: it emitted 0..99, then 50..149
    # again from its last commit; partition 1 repeated its rejections.
    produce(sink_settings, records(0, range(100)) + records(0, range(50, 150))
            + rejections(1, range(10)) + rejections(1, range(5, 12)))
    db = sink_settings.clickhouse_database
    with running_sink(sink_settings):
        wait_for("offsets committed", lambda: committed(sink_settings) == end_offsets(sink_settings))
    first = stored(clickhouse, db)
    assert first["records"] == [(0, o) for o in range(150)]
    assert [r[3] for r in first["rejections"]] == list(range(12))

    # A later replay reaches a fresh sink, which must learn the marks from ClickHouse.
    produce(sink_settings, records(0, range(120, 200)) + rejections(1, range(0, 15)))
    with running_sink(sink_settings):
        wait_for("offsets committed", lambda: committed(sink_settings) == end_offsets(sink_settings))
    second = stored(clickhouse, db)
    assert second["records"] == [(0, o) for o in range(200)]
    assert [r[3] for r in second["rejections"]] == list(range(15))


READ_BACK = textwrap.dedent("""
    import json, sys
    from agentaudit.settings import Settings
    from agentaudit.store import connect
    settings = Settings.from_env()
    client = connect(settings)
    db = settings.clickhouse_database
    out = {}
    for table in ("audit_records", "audit_rejections"):
        total, unique = client.query(
            f"SELECT count(), uniqExact(source_topic, source_partition, source_offset) FROM `{db}`.{table}"
        ).result_rows[0]
        out[table] = [int(total), int(unique)]
    client.close()
    print(json.dumps(out))
""")



def child_env(settings: Settings) -> dict[str, str]:
    """The environment for a service subprocess running with these settings."""
    return {**os.environ, **settings.to_env()}


@pytest.mark.slow
def test_sigkill_mid_stream_and_restart_store_every_row_once(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path
) -> None:
    from agentaudit.admin import ensure_topics

    # Its own chDB folder: the subprocess cannot open this process's folder.
    crash = settings.with_changes(kafka_bootstrap=kafka_bootstrap, partitions=PARTITIONS)
    ensure_topics(crash, kafka_bootstrap)
    env = child_env(crash.with_changes(
        home=tmp_path, clickhouse_dsn=f"chdb://{tmp_path / 'clickhouse-crash'}", clickhouse_database="crash",
        sink_batch=400, sink_linger_s=0.05, metrics_port=-1,
    ))
    per_partition = 6000
    messages: list[Message] = []
    for p in range(PARTITIONS):
        messages += records(p, range(per_partition))
        messages += records(p, range(per_partition - 500, per_partition))  # a processor replay, too
        messages += rejections(p, range(per_partition, per_partition + 300))
    produce(crash, messages)
    total = sum(end_offsets(crash).values())

    def start() -> subprocess.Popen[bytes]:
        log = (tmp_path / "sink.log").open("ab")
        return subprocess.Popen([sys.executable, "-m", "agentaudit", "sink"], env=env, stdout=log, stderr=log)

    progress = 0
    for share in (0.15, 0.45, 0.75):
        sink = start()
        try:
            wait_for(f"{share:.0%} committed", lambda s=share: sum(committed(crash).values()) >= s * total, timeout=120)  # type: ignore[misc]
        finally:
            sink.send_signal(signal.SIGKILL)
            sink.wait(30)
        done = sum(committed(crash).values())
        assert done >= progress
        progress = done
    assert progress < total, "the sink finished before the last kill; the test proved nothing"

    sink = start()
    try:
        wait_for("everything committed", lambda: committed(crash) == end_offsets(crash), timeout=180)
    finally:
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(60) == 0, (tmp_path / "sink.log").read_text()[-3000:]

    result = subprocess.run([sys.executable, "-c", READ_BACK], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["audit_records"] == [PARTITIONS * per_partition] * 2
    assert counts["audit_rejections"] == [PARTITIONS * 300] * 2


# The sink with a SIGKILL planted at an exact point: after ClickHouse accepted
# a batch but before the offsets were committed, or between the two tables'
# inserts of one flush. Only this test's subprocess is patched; the code under
# test is unchanged.
CRASHING_SINK = textwrap.dedent("""
    import os, signal, sys
    from agentaudit.sink import consumer, writer

    point, after = sys.argv.pop(1), int(sys.argv.pop(1))
    seen = {"n": 0}

    def hit() -> None:
        seen["n"] += 1
        if seen["n"] == after:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "before_commit":
        commit = consumer.Sink._commit
        def _commit(self):
            hit()
            commit(self)
        consumer.Sink._commit = _commit
    else:
        insert = writer.BatchWriter.insert
        def _insert(self, table, rows, token, ranges=()):
            insert(self, table, rows, token, ranges)
            if table == "audit_records":
                hit()
        writer.BatchWriter.insert = _insert

    from agentaudit.cli import main
    main()
""")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before_commit", "between_tables"])
def test_crash_after_clickhouse_accepted_replays_without_duplicates(
    settings: Settings, kafka_bootstrap: str, tmp_path: Path, point: str
) -> None:
    from agentaudit.admin import ensure_topics

    crash = settings.with_changes(kafka_bootstrap=kafka_bootstrap, partitions=PARTITIONS)
    ensure_topics(crash, kafka_bootstrap)
    env = child_env(crash.with_changes(
        home=tmp_path, clickhouse_dsn=f"chdb://{tmp_path / 'clickhouse'}", clickhouse_database="crash",
        sink_batch=300, metrics_port=-1,
    ))
    messages: list[Message] = []
    for p in range(PARTITIONS):
        messages += records(p, range(1000)) + rejections(p, range(1000, 1100))
    produce(crash, messages)
    log = tmp_path / "sink.log"

    with log.open("ab") as out:
        crashed = subprocess.run([sys.executable, "-c", CRASHING_SINK, point, "3", "sink"], env=env,
                                 stdout=out, stderr=out, timeout=180)
    assert crashed.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    assert sum(committed(crash).values()) < sum(end_offsets(crash).values())

    # Restart with another batch size: the replayed batches get other dedup
    # tokens, so only the high-water marks read back from ClickHouse can stop
    # the rows stored before the crash from being stored twice.
    with log.open("ab") as out:
        sink = subprocess.Popen([sys.executable, "-m", "agentaudit", "sink"], env={**env, "AGENTAUDIT_SINK_BATCH": "170"},
                                stdout=out, stderr=out)
        try:
            wait_for("everything committed", lambda: committed(crash) == end_offsets(crash), timeout=180)
        finally:
            sink.send_signal(signal.SIGTERM)
            assert sink.wait(60) == 0, log.read_text()[-3000:]

    result = subprocess.run([sys.executable, "-c", READ_BACK], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["audit_records"] == [PARTITIONS * 1000] * 2
    assert counts["audit_rejections"] == [PARTITIONS * 100] * 2
