"""Where the KEK comes from, and that it never shows up in settings output."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from agentaudit.crypto import generate_dev_kek, load_kek
from agentaudit.errors import ConfigError
from agentaudit.settings import Settings

KEK = bytes(range(32))
KEK_B64 = base64.b64encode(KEK).decode()


def _file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_kek_from_the_environment_value(tmp_path: Path) -> None:
    settings = Settings.from_env({"AGENTAUDIT_KEK": KEK_B64, "AGENTAUDIT_HOME": str(tmp_path)})
    assert load_kek(settings) == KEK


def test_kek_from_a_private_file(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kek_file=str(_file(tmp_path / "kek", KEK_B64 + "\n")))
    assert load_kek(settings) == KEK


def test_a_kek_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path / "kek", KEK_B64, 0o640)
    with pytest.raises(ConfigError, match="group or others.*chmod 600"):
        load_kek(Settings(home=tmp_path, kek_file=str(path)))


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_kek_is_refused_at_start_up_without_echoing_it(bad: str) -> None:
    with pytest.raises(ConfigError, match="AGENTAUDIT_KEK") as caught:
        Settings(kek=bad)
    assert bad not in str(caught.value)


def test_kek_and_kek_file_together_are_ambiguous(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not both"):
        Settings(kek=KEK_B64, kek_file=str(tmp_path / "kek"))


def test_a_missing_kek_says_how_to_provide_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AGENTAUDIT_KEK_FILE.*secret manager.*keys init --dev"):
        load_kek(Settings(home=tmp_path))


def test_the_development_kek_is_private_used_with_a_warning_and_never_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path)
    path = generate_dev_kek(settings)
    assert path == tmp_path / "keys" / "kek" and path.stat().st_mode & 0o777 == 0o600
    with caplog.at_level(logging.WARNING):
        kek = load_kek(settings)
    assert len(kek) == 32 and "development KEK" in caplog.text
    with pytest.raises(ConfigError, match="never replaced"):
        generate_dev_kek(settings)


def test_the_kek_stays_out_of_repr_and_child_environments() -> None:
    settings = Settings(kek=KEK_B64)
    assert KEK_B64 not in repr(settings) and KEK_B64 not in str(settings)
    env = settings.to_env()
    assert "AGENTAUDIT_KEK" not in env and KEK_B64 not in env.values()
    assert env["AGENTAUDIT_KEK_FILE"] == ""  # the file's path is not a secret and is passed on
