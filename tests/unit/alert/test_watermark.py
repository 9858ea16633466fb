"""The commit watermark: never past an entry some route has not settled."""

from __future__ import annotations

from agentaudit.alert.watermark import Entry, Watermark


def entry(offset: int, *routes: str, partition: int = 0) -> Entry:
    return Entry("audit.incidents", partition, offset, {}, read_at=float(offset), remaining=set(routes))


def test_the_position_stops_at_the_lowest_unsettled_entry() -> None:
    mark = Watermark()
    e0, e1, e2, e3 = entry(0, "a", "b"), entry(1), entry(2, "a"), entry(3, "b")
    for e in (e0, e1, e2, e3):
        mark.read(e)
    assert mark.positions() == {("audit.incidents", 0): 0}
    assert mark.pending_deliveries() == 4 and mark.pending_entries() == 3
    assert mark.settle(e2, "a") is True          # a later entry settling first does not move it
    assert mark.positions() == {("audit.incidents", 0): 0}
    assert mark.settle(e0, "a") is False          # b still owes e0
    assert mark.positions() == {("audit.incidents", 0): 0}
    assert mark.settle(e0, "b") is True
    assert mark.positions() == {("audit.incidents", 0): 3}  # e1 had no routes, e2 is settled
    assert mark.settle(e3, "b") is True
    assert mark.positions() == {("audit.incidents", 0): 4}
    assert mark.oldest_read_at() is None


def test_partitions_are_independent() -> None:
    mark = Watermark()
    stuck, free = entry(5, "dead", partition=0), entry(9, "ok", partition=1)
    mark.read(stuck)
    mark.read(free)
    mark.settle(free, "ok")
    assert mark.positions() == {("audit.incidents", 0): 5, ("audit.incidents", 1): 10}
    assert mark.oldest_read_at() == 5.0


def test_forgotten_partitions_cancel_their_entries_and_ignore_late_settles() -> None:
    mark = Watermark()
    old = entry(1, "a")
    mark.read(old)
    assert mark.forget([("audit.incidents", 0)]) == 1
    assert old.cancelled and mark.positions() == {}
    again = entry(1, "a")  # the partition came back; the entry is read again
    mark.read(again)
    assert mark.settle(old, "a") is False  # the old delivery report must not settle the new entry
    assert mark.positions() == {("audit.incidents", 0): 1}
