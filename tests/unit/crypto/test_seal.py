"""Sealing secrets under the KEK: round trip, binding to what they protect, wrong keys."""

from __future__ import annotations

import os

import pytest

from agentaudit.crypto import SealError, kek_id, seal, unseal

KEK = bytes(range(32))
OTHER_KEK = bytes(range(1, 33))
SECRET = b"s3cret-hmac-key-material-32bytes"


def test_round_trip_and_the_ciphertext_hides_the_secret() -> None:
    sealed = seal(KEK, SECRET, "hmac", "agent-1", "k1")
    assert SECRET not in sealed
    assert unseal(KEK, sealed, "hmac", "agent-1", "k1") == SECRET
    # random nonce: sealing twice never gives the same bytes
    assert seal(KEK, SECRET, "hmac", "agent-1", "k1") != sealed


@pytest.mark.parametrize("context", [("hmac", "agent-2", "k1"), ("hmac", "agent-1", "k2"), ("pipeline-key", "k1"),
                                     ("hmac", "agent-1k", "1"), ("hmac", "agent-1", "k1", "")])
def test_a_secret_moved_to_another_agent_or_key_does_not_open(context: tuple[str, ...]) -> None:
    sealed = seal(KEK, SECRET, "hmac", "agent-1", "k1")
    with pytest.raises(SealError, match="altered, or it was sealed for another agent or key") as caught:
        unseal(KEK, sealed, *context)
    assert SECRET.decode() not in str(caught.value)


def test_the_wrong_kek_is_named_as_such() -> None:
    sealed = seal(KEK, SECRET, "hmac", "a", "k")
    with pytest.raises(SealError, match=f"another key-encryption key \\(id {kek_id(KEK).hex()}\\)"):
        unseal(OTHER_KEK, sealed, "hmac", "a", "k")


def test_a_kek_id_forged_to_match_still_does_not_open() -> None:
    sealed = bytearray(seal(KEK, SECRET, "hmac", "a", "k"))
    sealed[1:9] = kek_id(OTHER_KEK)
    with pytest.raises(SealError, match="does not open"):
        unseal(OTHER_KEK, bytes(sealed), "hmac", "a", "k")


@pytest.mark.parametrize("where", [0, 12, -1])
def test_any_altered_byte_is_refused(where: int) -> None:
    sealed = bytearray(seal(KEK, SECRET, "hmac", "a", "k"))
    sealed[where] ^= 0x01
    with pytest.raises(SealError):
        unseal(KEK, bytes(sealed), "hmac", "a", "k")


def test_truncated_and_unbound_values_are_refused() -> None:
    with pytest.raises(SealError, match="truncated"):
        unseal(KEK, os.urandom(20), "hmac", "a", "k")
    with pytest.raises(ValueError, match="context"):
        seal(KEK, SECRET)
    with pytest.raises(ValueError, match="32 bytes"):
        seal(KEK[:16], SECRET, "x")
