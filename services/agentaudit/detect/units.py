"""Durations and clock times as rule and config files write them."""

from __future__ import annotations

import re

from agentaudit.detect.errors import RuleError

SECOND_US = 1_000_000
_UNITS = {"ms": 1_000, "s": SECOND_US, "m": 60 * SECOND_US, "h": 3600 * SECOND_US, "d": 86400 * SECOND_US}
_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)$")
_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def duration_us(value: object, where: str) -> int:
    """'90s', '5m', '1h', '1d', '250ms' -> microseconds; anything else is a RuleError."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise RuleError(where, f"expected a duration like 30s, 5m, 1h or 1d, got {value!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def clock_minutes(value: object, where: str) -> int:
    """'09:30' -> minutes after midnight; '24:00' is allowed as the end of a day."""
    match = _CLOCK.match(value) if isinstance(value, str) else None
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise RuleError(where, f"expected a clock time HH:MM, got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))
