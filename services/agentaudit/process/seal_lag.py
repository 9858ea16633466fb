"""How long chained records have been waiting for a seal, for agentaudit_process_seal_lag_seconds.

The chain stage is pure and reads no clock (chaining.py), so the handler
reports each partition's oldest unsealed record here after every batch, and
the gauge compares it with the wall clock when Prometheus scrapes. A healthy
processor keeps the lag below one sealing interval plus a clock tick; a
processor that stops sealing (stuck, or its ticks no longer arrive) shows a
lag that keeps growing even though nothing calls update().
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from prometheus_client import Gauge

from agentaudit.chain.state import ChainState
from agentaudit.metrics import PROCESS_SEAL_LAG


class SealLag:
    """The oldest unsealed record's ingest time per partition this worker owns."""

    def __init__(self, gauge: Gauge = PROCESS_SEAL_LAG, clock: Callable[[], float] = time.time) -> None:
        self._by_partition: dict[int, int] = {}
        # Read by the scrape thread: one attribute, replaced whole, never a
        # dict iterated while the event loop changes it.
        self._oldest_us: int | None = None
        self._clock = clock
        gauge.set_function(self.seconds)

    def update(self, partition: int, states: Iterable[ChainState]) -> None:
        """Recompute a partition's oldest unsealed record from all its chain states."""
        oldest = min((s.pending_first_us for s in states if s.pending.count), default=None)
        if oldest is None:
            self._by_partition.pop(partition, None)
        else:
            self._by_partition[partition] = oldest
        self._oldest_us = min(self._by_partition.values(), default=None)

    def forget(self, partition: int) -> None:
        """The partition moved to another worker, which reports it from now on."""
        self._by_partition.pop(partition, None)
        self._oldest_us = min(self._by_partition.values(), default=None)

    def seconds(self) -> float:
        oldest = self._oldest_us
        return 0.0 if oldest is None else max(0.0, self._clock() - oldest / 1e6)
