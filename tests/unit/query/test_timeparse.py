from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agentaudit.errors import ConfigError
from agentaudit.query.timeparse import parse_time, to_micros

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-1h", NOW - timedelta(hours=1)),
        ("-15m", NOW - timedelta(minutes=15)),
        ("now-2d", NOW - timedelta(days=2)),
        ("-30s", NOW - timedelta(seconds=30)),
        ("-1w", NOW - timedelta(weeks=1)),
        ("+5m", NOW + timedelta(minutes=5)),
        ("2025-01-31", datetime(2025, 1, 31, tzinfo=UTC)),
        ("2025-01-31T12:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T12:00:00Z", datetime(2025, 1, 31, 12, tzinfo=UTC)),
        ("2025-01-31T14:00:00+02:00", datetime(2025, 1, 31, 12, tzinfo=UTC)),
    ],
)
def test_forms(text: str, expected: datetime) -> None:
    parsed = parse_time(text, NOW)
    assert parsed == expected and parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["yesterday", "-1y", "1h", "2025-13-01", ""])
def test_unreadable(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_time(text, NOW)


def test_micros_are_exact() -> None:
    moment = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert to_micros(moment) == 1_740_826_800_123_456
