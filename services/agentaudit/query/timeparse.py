"""Parses the --since / --until forms: `now`, relative (`-1h`, `-15m`, `now-2d`)
and ISO-8601 (`2025-01-31`, `2025-01-31T12:00`, `2025-01-31T12:00:00+02:00`).

Times without a zone are UTC: audit time is the pipeline's clock, which is UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from agentaudit.errors import ConfigError

_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_RELATIVE = re.compile(r"^(?:now)?\s*(?P<sign>[-+])\s*(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>[smhdw])$")

HELP = "now, a relative time like -15m, -1h, -7d (s, m, h, d, w), or ISO-8601 like 2025-01-31T12:00Z (UTC if no zone)"


def parse_time(value: str, now: datetime) -> datetime:
    """An aware UTC datetime for `value`, relative forms counted from `now`."""
    text = value.strip().lower()
    if text == "now":
        return now.astimezone(UTC)
    match = _RELATIVE.match(text)
    if match:
        delta = timedelta(**{_UNITS[match["unit"]]: float(match["n"])})
        return (now + delta if match["sign"] == "+" else now - delta).astimezone(UTC)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise ConfigError(f"cannot read time {value!r}: use {HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float rounding)."""
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    """The aware UTC datetime of microseconds since the epoch, exactly (the inverse of to_micros)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
