"""Byte slicing and text forms shared by evidence writers and verifiers."""

from __future__ import annotations

import hashlib

import pytest

from agentaudit.chain.forms import chain_link_tail
from agentaudit.evidence.formats import (
    FormatError,
    canonical_bytes,
    content_ok,
    iso_us,
    link_length,
    link_ok,
    parse_iso_us,
    unb64,
    unhex_hash,
)
from tests.unit.evidence.support import make_chain, KeySigner

PREV, BODY = b"\x11" * 32, b"the canonical bytes"
HASH = hashlib.sha256(PREV + BODY).digest()
SINGLE_OBJECT = b"\xc3\x01" + b"\x07" * 8
CONFLUENT = b"\x00\x00\x00\x00\x2a"


@pytest.mark.parametrize("position", [1, 63, 64, 8191, 8192, 2**40])
@pytest.mark.parametrize("header", [SINGLE_OBJECT, CONFLUENT], ids=["single-object", "confluent"])
def test_the_canonical_bytes_are_cut_between_header_and_link(position: int, header: bytes) -> None:
    value = header + BODY + chain_link_tail(position, PREV, HASH)
    assert link_length(position) == len(chain_link_tail(position, PREV, HASH))
    assert canonical_bytes(value, position) == BODY
    assert content_ok(value, position, PREV, HASH)
    assert link_ok(value, position, PREV, HASH)
    assert not link_ok(value, position + 1, PREV, HASH)
    assert not content_ok(value, position, PREV, b"\x00" * 32)
    changed = value.replace(b"canonical", b"Canonical")
    assert not content_ok(changed, position, PREV, HASH) and link_ok(changed, position, PREV, HASH)


def test_a_real_stored_record_slices_to_what_its_chain_hash_covers() -> None:
    chain = make_chain(KeySigner(), n=3)
    for i, value in enumerate(chain.values):
        assert content_ok(value, i + 1, chain.prevs[i], chain.hashes[i])
        assert link_ok(value, i + 1, chain.prevs[i], chain.hashes[i])


def test_values_that_cannot_hold_a_record_are_refused() -> None:
    with pytest.raises(FormatError, match="too short"):
        canonical_bytes(SINGLE_OBJECT + b"\x02", 1)
    with pytest.raises(FormatError, match="neither"):
        canonical_bytes(b"\x7f" + BODY + chain_link_tail(1, PREV, HASH), 1)
    assert not content_ok(b"", 1, PREV, HASH)


@pytest.mark.parametrize("us", [0, 1, 1_800_000_000_123_456, 1_700_000_000_000_001])
def test_times_round_trip_exactly(us: int) -> None:
    assert parse_iso_us(iso_us(us), "t") == us
    assert iso_us(us).endswith("Z") and len(iso_us(us)) == 27


def test_time_forms() -> None:
    assert parse_iso_us("2027-01-15T09:00:00.000001+01:00", "t") == parse_iso_us("2027-01-15T08:00:00.000001Z", "t")
    for bad in ("2027-01-15T08:00:00", "yesterday", 17):
        with pytest.raises(FormatError):
            parse_iso_us(bad, "t")


def test_base64_and_hex_are_strict() -> None:
    assert unb64("AAE=", "v") == b"\x00\x01"
    for bad in ("AA E=", "AAE", "A$==", None):
        with pytest.raises(FormatError):
            unb64(bad, "v")
    assert unhex_hash("ab" * 32, "h") == b"\xab" * 32
    for bad_hash in ("ab" * 31, "zz" * 32, 5):
        with pytest.raises(FormatError):
            unhex_hash(bad_hash, "h")
