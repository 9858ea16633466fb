"""What the sink has consumed but not yet stored: pure bookkeeping, no I/O.

HighWater remembers, per table and source partition, the highest source offset
stored or pending, and refuses anything at or below it (a replay). Batch holds
the admitted rows per table and the next offset to commit per Kafka partition.
month_runs splits a table's rows so that each insert lands in one monthly
partition (see Sink for why).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agentaudit.sink.rows import Row
from agentaudit.sink.writer import OffsetRange

# (table, source topic, source partition)
SourceKey = tuple[str, str, int]


class HighWater:
    """Highest source offset stored or pending, per (table, source topic, source partition)."""

    def __init__(self) -> None:
        self._marks: dict[SourceKey, int] = {}

    def load(self, table: str, stored: Iterable[tuple[str, int, int]]) -> None:
        """Merge what ClickHouse holds; a mark never moves down, since pending
        rows may be ahead of what is stored."""
        for topic, partition, offset in stored:
            key = (table, topic, partition)
            self._marks[key] = max(self._marks.get(key, -1), offset)

    def admit(self, table: str, topic: str, partition: int, offset: int) -> bool:
        """True, and raise the mark, if offset is past it; False for a replay."""
        key = (table, topic, partition)
        if offset <= self._marks.get(key, -1):
            return False
        self._marks[key] = offset
        return True

    def get(self, table: str, topic: str, partition: int) -> int | None:
        return self._marks.get((table, topic, partition))

    def clear(self) -> None:
        """Forget everything: pending rows were dropped, ClickHouse is the truth again."""
        self._marks.clear()


@dataclass
class Entry:
    """One row and the Kafka message (topic, partition, offset) it came from."""

    row: Row
    topic: str
    partition: int
    offset: int


@dataclass
class Batch:
    """Rows waiting for insertion, by table, and the offsets their commit covers.

    `offsets` covers every consumed message, including replays that were
    dropped: they too must not be read again once the batch is committed.
    """

    rows: dict[str, list[Entry]] = field(default_factory=dict)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    messages: int = 0
    started: float | None = None

    def consumed(self, topic: str, partition: int, offset: int, now: float) -> None:
        if self.started is None:
            self.started = now
        self.messages += 1
        key = (topic, partition)
        self.offsets[key] = max(self.offsets.get(key, -1), offset)

    def add(self, table: str, entry: Entry) -> None:
        self.rows.setdefault(table, []).append(entry)

    @property
    def row_count(self) -> int:
        return sum(len(entries) for entries in self.rows.values())

    def commit_positions(self) -> list[tuple[str, int, int]]:
        """(topic, partition, next offset to read) for every partition consumed."""
        return [(t, p, last + 1) for (t, p), last in sorted(self.offsets.items())]

    def ranges(self) -> list[OffsetRange]:
        return ranges_of(entry for entries in self.rows.values() for entry in entries)


def ranges_of(entries: Iterable[Entry]) -> list[OffsetRange]:
    """(topic, partition, first, last) of the messages behind some entries."""
    bounds: dict[tuple[str, int], tuple[int, int]] = {}
    for e in entries:
        key = (e.topic, e.partition)
        lo, hi = bounds.get(key, (e.offset, e.offset))
        bounds[key] = (min(lo, e.offset), max(hi, e.offset))
    return [(t, p, lo, hi) for (t, p), (lo, hi) in sorted(bounds.items())]


def month_bounds(us: int) -> tuple[int, int]:
    """[start, end) in microseconds of the UTC calendar month holding `us`."""
    moment = datetime.fromtimestamp(us / 1e6, UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    end = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()) * 1_000_000, int(end.timestamp()) * 1_000_000


def month_runs(entries: list[Entry], ingest_index: int) -> list[list[Entry]]:
    """Split entries, in arrival order, into maximal runs within one UTC month.

    Arrival order is kept: each run, inserted in turn, is one monthly partition,
    so whatever prefix of the runs a crash leaves stored is a prefix of every
    source partition's offsets. Normally there is one run; a batch that spans
    the turn of a month gives two or a few.
    """
    runs: list[list[Entry]] = []
    lo = hi = 0
    for entry in entries:
        ts = entry.row[ingest_index]
        if not runs or not lo <= ts < hi:
            lo, hi = month_bounds(ts)
            runs.append([])
        runs[-1].append(entry)
    return runs
