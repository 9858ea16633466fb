from __future__ import annotations

from datetime import UTC, datetime

from agentaudit.sink.batch import Batch, Entry, HighWater, month_bounds, month_runs, ranges_of


def us(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()) * 1_000_000


def test_high_water_drops_replays_per_table_and_partition() -> None:
    hw = HighWater()
    hw.load("audit_records", [("agent.actions", 0, 10)])
    assert not hw.admit("audit_records", "agent.actions", 0, 10)
    assert not hw.admit("audit_records", "agent.actions", 0, 3)
    assert hw.admit("audit_records", "agent.actions", 0, 11)
    assert not hw.admit("audit_records", "agent.actions", 0, 11)  # a replay within the same batch
    assert hw.admit("audit_records", "agent.actions", 1, 0)
    assert hw.admit("audit_rejections", "agent.actions", 0, 5)  # tables are independent


def test_high_water_load_never_moves_a_mark_down() -> None:
    hw = HighWater()
    assert hw.admit("t", "a", 0, 20)
    hw.load("t", [("a", 0, 15)])
    assert hw.get("t", "a", 0) == 20
    hw.clear()
    assert hw.get("t", "a", 0) is None


def test_batch_commits_past_every_consumed_message() -> None:
    batch = Batch()
    for offset in (5, 6, 7):
        batch.consumed("audit.records", 1, offset, now=1.0)
    batch.consumed("audit.rejected", 0, 42, now=2.0)
    assert batch.started == 1.0 and batch.messages == 4
    assert batch.commit_positions() == [("audit.records", 1, 8), ("audit.rejected", 0, 43)]


def test_ranges_of() -> None:
    entries = [Entry((), "t", 0, o) for o in (4, 2, 9)] + [Entry((), "t", 1, 7)]
    assert ranges_of(entries) == [("t", 0, 2, 9), ("t", 1, 7, 7)]


def test_month_bounds_wrap_the_year() -> None:
    assert month_bounds(us(2025, 12, 31, 23, 59, 59)) == (us(2025, 12, 1), us(2026, 1, 1))


def test_month_runs_keep_arrival_order() -> None:
    times = [us(2025, 1, 31, 23), us(2025, 1, 31, 23), us(2025, 2, 1), us(2025, 1, 31, 23, 30), us(2025, 2, 1, 1)]
    entries = [Entry((t,), "t", 0, i) for i, t in enumerate(times)]
    runs = month_runs(entries, 0)
    assert [[e.offset for e in run] for run in runs] == [[0, 1], [2], [3], [4]]
    assert month_runs([], 0) == []
