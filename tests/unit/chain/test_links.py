"""The per-agent hash chain: every kind of tampering is caught at the first bad
position, with the right kind."""

from __future__ import annotations

import hashlib

import pytest

from agentaudit.chain.links import (
    FIRST_POSITION,
    Break,
    BreakKind,
    ChainEntry,
    first_break,
    genesis,
    link,
)

AGENT = "agent-7"
N = 10


def record(i: int) -> bytes:
    return f'{{"agent":"{AGENT}","seq":{i},"action":"tool_call"}}'.encode()


def build(payloads: list[bytes], anchor: bytes, first: int = FIRST_POSITION) -> list[ChainEntry]:
    """What the chain stage stores: each record linked to the one before."""
    entries: list[ChainEntry] = []
    prev = anchor
    for offset, payload in enumerate(payloads):
        h = link(prev, payload)
        entries.append((first + offset, prev, h, payload))
        prev = h
    return entries


@pytest.fixture
def chain() -> list[ChainEntry]:
    return build([record(i) for i in range(1, N + 1)], genesis(AGENT))


def check(entries: list[ChainEntry]) -> Break | None:
    return first_break(entries, anchor=genesis(AGENT))


def renumber(entries: list[ChainEntry]) -> list[ChainEntry]:
    """An attacker hiding a deletion or insertion by rewriting positions."""
    return [(FIRST_POSITION + i, prev, h, b) for i, (_, prev, h, b) in enumerate(entries)]


def test_definitions() -> None:
    assert genesis(AGENT) == hashlib.sha256(b"agentaudit/chain/v1/genesis" + AGENT.encode()).digest()
    assert genesis(AGENT) != genesis("agent-8")
    prev = b"\x01" * 32
    assert link(prev, b"rec") == hashlib.sha256(prev + b"rec").digest()
    with pytest.raises(ValueError):
        link(b"short", b"rec")
    with pytest.raises(ValueError):
        first_break([], anchor=b"short")


def test_intact_chain_verifies(chain: list[ChainEntry]) -> None:
    assert check(chain) is None
    assert check([]) is None
    # Deterministic: relinking the same input gives the same hashes (no fork).
    assert build([r for _, _, _, r in chain], genesis(AGENT)) == chain


def test_a_window_verifies_from_a_trusted_anchor(chain: list[ChainEntry]) -> None:
    window = chain[4:]
    assert first_break(window, anchor=chain[3][2], first_position=5) is None
    got = first_break(window, anchor=chain[2][2], first_position=5)
    assert got is not None and (got.kind, got.position) == (BreakKind.BROKEN_LINK, 5)


@pytest.mark.parametrize("i", [0, 4, N - 1])
def test_modified_record_bytes(chain: list[ChainEntry], i: int) -> None:
    pos, prev, h, payload = chain[i]
    chain[i] = (pos, prev, h, payload.replace(b"tool_call", b"tool_cal1"))
    got = check(chain)
    assert got is not None
    assert (got.kind, got.position, got.index) == (BreakKind.MODIFIED, i + 1, i)


def test_modified_record_with_recomputed_hash_breaks_the_next_link(chain: list[ChainEntry]) -> None:
    pos, prev, _, payload = chain[4]
    forged = payload + b" "
    chain[4] = (pos, prev, link(prev, forged), forged)
    got = check(chain)
    assert got is not None
    assert (got.kind, got.position) == (BreakKind.BROKEN_LINK, 6)


def test_modified_stored_hash(chain: list[ChainEntry]) -> None:
    pos, prev, h, payload = chain[6]
    chain[6] = (pos, prev, bytes([h[0] ^ 1]) + h[1:], payload)
    got = check(chain)
    assert got is not None and (got.kind, got.position) == (BreakKind.MODIFIED, 7)


@pytest.mark.parametrize("i", [0, 4, N - 2])
def test_deleted_record(chain: list[ChainEntry], i: int) -> None:
    del chain[i]
    got = check(chain)
    assert got is not None
    # The gap names the missing position itself.
    assert (got.kind, got.position, got.found_position) == (BreakKind.OUT_OF_SEQUENCE, i + 1, i + 2)


def test_deleted_record_with_positions_renumbered(chain: list[ChainEntry]) -> None:
    del chain[4]
    got = check(renumber(chain))
    assert got is not None and (got.kind, got.position) == (BreakKind.BROKEN_LINK, 5)


def test_deleted_first_record_with_positions_renumbered(chain: list[ChainEntry]) -> None:
    del chain[0]
    got = check(renumber(chain))
    assert got is not None and (got.kind, got.position) == (BreakKind.WRONG_GENESIS, 1)


def self_consistent_forgery(chain: list[ChainEntry], i: int) -> ChainEntry:
    """A forged record at position i+1 that links correctly to the record before it."""
    prev = chain[i - 1][2] if i else genesis(AGENT)
    payload = b'{"forged":true}'
    return (i + 1, prev, link(prev, payload), payload)


def test_inserted_forged_record_with_positions_renumbered(chain: list[ChainEntry]) -> None:
    chain.insert(4, self_consistent_forgery(chain, 4))
    got = check(renumber(chain))
    # The forgery itself links correctly; the genuine record after it cannot.
    assert got is not None and (got.kind, got.position, got.index) == (BreakKind.BROKEN_LINK, 6, 5)


@pytest.mark.parametrize("before", [True, False])
def test_inserted_forged_record_sharing_a_position(chain: list[ChainEntry], before: bool) -> None:
    forged = self_consistent_forgery(chain, 4)
    chain.insert(4 if before else 5, forged)
    got = check(chain)
    assert got is not None
    assert (got.kind, got.position, got.found_position) == (BreakKind.OUT_OF_SEQUENCE, 5, 5)


def test_swapped_records(chain: list[ChainEntry]) -> None:
    chain[3], chain[7] = chain[7], chain[3]
    got = check(chain)
    assert got is not None
    assert (got.kind, got.position, got.found_position) == (BreakKind.OUT_OF_SEQUENCE, 4, 8)


def test_swapped_adjacent_records_with_positions_renumbered(chain: list[ChainEntry]) -> None:
    chain[3], chain[4] = chain[4], chain[3]
    got = check(renumber(chain))
    assert got is not None and (got.kind, got.position) == (BreakKind.BROKEN_LINK, 4)


def test_wrong_genesis(chain: list[ChainEntry]) -> None:
    other = build([r for _, _, _, r in chain], genesis("agent-8"))
    got = check(other)
    assert got is not None and (got.kind, got.position, got.index) == (BreakKind.WRONG_GENESIS, 1, 0)
    # The same chain checked as agent-8's verifies: genesis binds chain to agent.
    assert first_break(other, anchor=genesis("agent-8")) is None


def test_first_break_reports_only_the_first(chain: list[ChainEntry]) -> None:
    pos, prev, h, _ = chain[2]
    chain[2] = (pos, prev, h, b"changed")
    del chain[7]
    got = check(chain)
    assert got is not None and got.position == 3


def test_chain_alone_cannot_see_a_rewritten_tail(chain: list[ChainEntry]) -> None:
    # Documents the limit stated in first_break: a tail relinked from the
    # point of change verifies by links alone; seals (head hash, Merkle root)
    # are what catch it.
    payloads = [r for _, _, _, r in chain]
    payloads[5] = b"rewritten"
    tail = build(payloads[5:], chain[4][2], first=6)
    assert check(chain[:5] + tail) is None
    assert check(chain[:-1]) is None  # a truncated end, likewise
