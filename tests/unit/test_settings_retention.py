"""Retention settings: at least 365 days unless explicitly forced; true/false read as words."""

from __future__ import annotations

import pytest

from agentaudit.errors import ConfigError
from agentaudit.settings import RETENTION_FLOOR_DAYS, Settings


def test_the_default_keeps_rows_past_the_floor() -> None:
    assert Settings().retention_days == 400 >= RETENTION_FLOOR_DAYS


def test_a_retention_below_the_floor_is_refused_saying_how_to_force_it() -> None:
    with pytest.raises(ConfigError, match=r"RETENTION_DAYS=364 is shorter than the 365 days.*RETENTION_FORCE=true"):
        Settings.from_env({"AGENTAUDIT_RETENTION_DAYS": "364"})


def test_the_floor_itself_is_accepted() -> None:
    assert Settings.from_env({"AGENTAUDIT_RETENTION_DAYS": "365"}).retention_days == 365


def test_a_forced_short_retention_is_accepted() -> None:
    settings = Settings.from_env({"AGENTAUDIT_RETENTION_DAYS": "30", "AGENTAUDIT_RETENTION_FORCE": "true"})
    assert (settings.retention_days, settings.retention_force) == (30, True)


@pytest.mark.parametrize("word", ["false", "0", "no", "off", "FALSE"])
def test_force_written_as_false_does_not_force(word: str) -> None:
    with pytest.raises(ConfigError, match="shorter than"):
        Settings.from_env({"AGENTAUDIT_RETENTION_DAYS": "30", "AGENTAUDIT_RETENTION_FORCE": word})


def test_force_must_be_a_yes_or_no() -> None:
    with pytest.raises(ConfigError, match="RETENTION_FORCE='maybe': expected true or false"):
        Settings.from_env({"AGENTAUDIT_RETENTION_FORCE": "maybe"})


@pytest.mark.parametrize("days", ["0", "-5", "40000"])
def test_nonsense_retention_is_refused_even_when_forced(days: str) -> None:
    with pytest.raises(ConfigError, match="between 1 and 36500"):
        Settings.from_env({"AGENTAUDIT_RETENTION_DAYS": days, "AGENTAUDIT_RETENTION_FORCE": "1"})
