"""What `agentaudit agents` prints: readable, and never a secret."""

from __future__ import annotations

import base64

import click
import pytest

from agentaudit.registry.cli import parse_duration_us
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.output import change_json, describe, dumps, history_line, when
from agentaudit.registry.secrets import new_hmac_key
from tests.chain_support import TestSigner
from tests.registry_support import HOUR_US, register, rotate

T0 = 1_700_000_000_123_456


def test_times_are_iso_utc_to_the_microsecond() -> None:
    assert when(T0) == "2023-11-14T22:13:20.123456Z" and when(None) == "-"


@pytest.mark.parametrize("text, us", [("0", 0), ("30s", 30_000_000), ("15m", 900_000_000), ("1h", HOUR_US),
                                      ("1.5h", 3 * HOUR_US // 2), ("7d", 7 * 24 * HOUR_US)])
def test_grace_durations(text: str, us: int) -> None:
    assert parse_duration_us(text) == us


@pytest.mark.parametrize("text", ["soon", "-1h", "1y", ""])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(click.BadParameter):
        parse_duration_us(text)


def test_show_says_which_keys_were_valid_then_and_who_approved() -> None:
    signer = TestSigner()
    log = RegistryLog(signer.public_keys())
    log.append(log.prepare(register("billing-agent"), signer, T0, "c1"))
    rotated = log.prepare(rotate("billing-agent"), signer, T0 + HOUR_US, "c2")
    text = describe(rotated, at_us=T0 + 2 * HOUR_US)
    first, second = (k.key_id for k in rotated.definition.keys)
    assert f"{first}  ed25519      NOT valid then:" in text and f"{second}  ed25519      valid " in text
    assert "by change     #2 rotate_key by carol, approved by bob: routine rotation" in text
    assert "rotate_key" in history_line(rotated) and "carol" in history_line(rotated)


def test_an_hmac_key_prints_neither_its_secret_nor_its_sealed_form() -> None:
    signer = TestSigner()
    key, secret = new_hmac_key(bytes(range(32)), "fast-agent")
    change = RegistryLog(signer.public_keys()).prepare(register("fast-agent", key=key), signer, T0, "c1")
    printed = describe(change) + dumps(change_json(change))
    assert secret.hex() not in printed and key.material.hex() not in printed
    assert base64.b64encode(key.material).decode() not in printed and base64.b64encode(secret).decode() not in printed
    assert key.key_id in printed
