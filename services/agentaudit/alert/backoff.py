"""When to try a delivery again: exponential backoff with jitter, capped."""

from __future__ import annotations

import random
from dataclasses import dataclass

from agentaudit.errors import ConfigError


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (n = 1 after the first failed attempt).

    The n-th delay is initial_s * 2**(n-1), capped at max_s, then lowered by a
    random share of up to `jitter` so that routes and alerters that failed
    together do not retry in lock-step. With jitter at most 0.5, delays never
    shrink from one retry to the next until the cap: retry n+1's lowest delay
    is retry n's highest.
    """

    initial_s: float = 1.0
    max_s: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ConfigError("backoff: need 0 < initial delay <= maximum delay")
        if not 0 <= self.jitter <= 0.5:
            raise ConfigError("backoff: jitter must be between 0 and 0.5")

    def delay(self, retry: int, rng: random.Random | None = None, retry_after_s: float | None = None) -> float:
        """Seconds to wait before retry `retry`; a receiver's Retry-After is honoured up to max_s."""
        ceiling = min(self.max_s, self.initial_s * 2.0 ** min(max(retry - 1, 0), 64))
        delay = ceiling * (1 - self.jitter * (rng or random).random())
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_s))
        return delay
