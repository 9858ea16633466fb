"""The retry schedule: exponential, jittered, capped, never shrinking before the cap."""

from __future__ import annotations

import random

import pytest

from agentaudit.alert.backoff import Backoff
from agentaudit.errors import ConfigError


def test_delays_stay_within_bounds_and_reach_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=60.0, jitter=0.5)
    rng = random.Random(7)
    for retry in range(1, 40):
        ceiling = min(60.0, 2.0 ** (retry - 1))
        for _ in range(50):
            assert ceiling / 2 <= backoff.delay(retry, rng) <= ceiling
    assert backoff.delay(1000, rng) <= 60.0  # no overflow for very long outages


def test_delays_never_shrink_from_one_retry_to_the_next() -> None:
    backoff = Backoff(initial_s=0.5, max_s=60.0)
    rng = random.Random(1)
    delays = [backoff.delay(n, rng) for n in range(1, 9)]
    assert delays == sorted(delays)
    assert delays[-1] > 10 * delays[0]


def test_extremes_of_the_jitter() -> None:
    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def random(self) -> float:
            return self.value

    backoff = Backoff(initial_s=1.0, max_s=8.0, jitter=0.5)
    assert [backoff.delay(n, Fixed(0.0)) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert [backoff.delay(n, Fixed(1.0)) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=1.0, max_s=30.0)
    assert backoff.delay(1, random.Random(0), retry_after_s=12) == 12
    assert backoff.delay(1, random.Random(0), retry_after_s=3600) == 30


@pytest.mark.parametrize("args", [(0.0, 1.0, 0.5), (2.0, 1.0, 0.5), (1.0, 2.0, 0.9)])
def test_nonsense_settings_are_refused(args: tuple[float, float, float]) -> None:
    with pytest.raises(ConfigError):
        Backoff(*args)
