"""Percentiles without numpy."""

from __future__ import annotations

from collections.abc import Sequence


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50, p99 and max of samples (nearest rank); zeros when there are none."""
    if not samples:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0, "n": 0}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1], "n": len(ordered)}
