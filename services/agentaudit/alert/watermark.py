"""Which incident offsets may be committed: the commit watermark. No I/O.

An entry read from audit.incidents is pending until every route it goes to
has settled it (delivered, or failed permanently, and its AlertDelivery
record is on the broker). Per partition, the committable offset is the lowest
pending entry's offset, or the next offset to read when none is pending; so a
crash or restart re-reads exactly the entries some route has not settled (and
the settled ones after them, which receivers drop by their dedup keys).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TopicPartition = tuple[str, int]


@dataclass(eq=False)
class Entry:
    """One incident timeline entry in flight, shared by the jobs of its routes."""

    topic: str
    partition: int
    offset: int
    incident: dict[str, Any]
    read_at: float  # monotonic clock
    remaining: set[str] = field(default_factory=set)  # names of routes that have not settled it
    cancelled: bool = False  # its partition was revoked: workers drop it, its next owner delivers it

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class Watermark:
    """Pending entries per partition and the offsets that may be committed.

    Thread-safe: the consumer loop adds and forgets entries, producer delivery
    callbacks settle them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Offsets are read in order, so each dict's insertion order is ascending
        # and its first key is the lowest pending offset.
        self._pending: dict[TopicPartition, dict[int, Entry]] = {}
        self._next: dict[TopicPartition, int] = {}

    def read(self, entry: Entry) -> None:
        """Record that `entry` was read; pending if it has routes to go to."""
        tp = (entry.topic, entry.partition)
        with self._lock:
            self._next[tp] = max(self._next.get(tp, 0), entry.offset + 1)
            if entry.remaining:
                self._pending.setdefault(tp, {})[entry.offset] = entry

    def settle(self, entry: Entry, route: str) -> bool:
        """Route `route` is done with `entry`; True when that was the entry's last route."""
        with self._lock:
            entry.remaining.discard(route)
            if entry.remaining or entry.cancelled:
                return False
            pending = self._pending.get((entry.topic, entry.partition), {})
            return pending.pop(entry.offset, None) is not None

    def positions(self) -> dict[TopicPartition, int]:
        """The offset to commit per partition read: nothing at or after it is settled for sure."""
        with self._lock:
            return {tp: next(iter(self._pending[tp]), nxt) if self._pending.get(tp) else nxt
                    for tp, nxt in self._next.items()}

    def forget(self, partitions: Iterable[TopicPartition]) -> int:
        """Drop partitions that moved to another alerter; their entries are cancelled. Returns how many."""
        dropped = 0
        with self._lock:
            for tp in partitions:
                for entry in self._pending.pop(tp, {}).values():
                    entry.cancelled = True
                    dropped += 1
                self._next.pop(tp, None)
        return dropped

    def pending_entries(self) -> int:
        with self._lock:
            return sum(len(p) for p in self._pending.values())

    def pending_deliveries(self) -> int:
        """(entry, route) pairs not settled yet."""
        with self._lock:
            return sum(len(e.remaining) for p in self._pending.values() for e in p.values())

    def oldest_read_at(self) -> float | None:
        """When the oldest pending entry was read (monotonic), None if nothing is pending."""
        with self._lock:
            return min((next(iter(p.values())).read_at for p in self._pending.values() if p), default=None)
