"""The per-agent hash chain, no I/O.

One chain per agent; records are linked in Kafka order (the agent id is the
partition key, so that order is total per agent). Positions start at 1:

    hash_1 = SHA-256(genesis(agent_id) || record_bytes_1)
    hash_n = SHA-256(hash_{n-1}        || record_bytes_n)

record_bytes are the canonical bytes of the record as stored, pipeline fields
included (issue 3, point 3). prev_hash is always exactly 32 bytes, so the
concatenation is unambiguous without a length prefix.

Every function is deterministic in its inputs, so reprocessing the same input
after a crash reproduces the same hashes and a chain never forks (invariant 4).
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from agentaudit.chain.merkle import HASH_SIZE

FIRST_POSITION = 1
"""Chain positions start at 1 (schemas/README.md, AuditRecord.chain.position)."""

GENESIS_DOMAIN = b"agentaudit/chain/v1/genesis"
"""Domain-separation tag for genesis hashes; bump v1 only with a new chain format."""

ChainEntry = tuple[int, bytes, bytes, bytes]
"""(position, prev_hash, hash, record_bytes) of one stored record."""


def genesis(agent_id: str) -> bytes:
    """The prev_hash of an agent's first record: SHA-256(GENESIS_DOMAIN || agent_id).

    Why per agent, not one constant: each chain's first record then commits
    to the agent it belongs to, so one agent's records (or its whole chain)
    cannot be passed off as another agent's chain, and the start of a chain
    cannot be cut off and replaced by a chain started elsewhere -- the first
    link fails. The fixed tag keeps these values apart from every other
    SHA-256 this system computes and lets a future format start fresh chains.
    The tag has a fixed length, so tag || agent_id is unambiguous.
    """
    return hashlib.sha256(GENESIS_DOMAIN + agent_id.encode("utf-8")).digest()


def link(prev_hash: bytes, record_bytes: bytes) -> bytes:
    """SHA-256(prev_hash || record_bytes): the chain hash of one record.

    Raises ValueError if prev_hash is not a 32-byte hash, because a short or
    long prev_hash would make the concatenation ambiguous.
    """
    if len(prev_hash) != HASH_SIZE:
        raise ValueError(f"prev_hash must be {HASH_SIZE} bytes, got {len(prev_hash)}")
    return hashlib.sha256(prev_hash + record_bytes).digest()


class BreakKind(enum.StrEnum):
    """What verification saw at the first bad position."""

    MODIFIED = "modified"
    """hash != link(prev_hash, record_bytes): the record's bytes or its stored
    hash were changed."""

    BROKEN_LINK = "broken_link"
    """prev_hash is not the previous record's hash: a record was inserted,
    deleted or moved here and the positions were renumbered to hide it (or the
    previous record's hash was rewritten)."""

    OUT_OF_SEQUENCE = "out_of_sequence"
    """position is not previous + 1: records are missing (a gap), repeated,
    or out of order."""

    WRONG_GENESIS = "wrong_genesis"
    """The first record does not link to the expected genesis: the chain
    belongs to another agent, or its start was replaced."""


@dataclass(frozen=True)
class Break:
    """The first place a chain fails to verify.

    position: the first bad chain position. For OUT_OF_SEQUENCE that is the
        smaller of the expected and the stored position (a gap names the first
        missing position; a repeat or step back names the stored one); for
        every other kind it is the offending record's stored position.
    found_position: the position stored in the offending record.
    index: 0-based ordinal of the offending record in the input, so a caller
        can map it back to a row.
    """

    kind: BreakKind
    position: int
    found_position: int
    index: int
    detail: str


def first_break(
    records: Iterable[ChainEntry],
    *,
    anchor: bytes,
    first_position: int = FIRST_POSITION,
) -> Break | None:
    """Verify `records` in the order given; None when every link holds.

    records: (position, prev_hash, hash, record_bytes) in stored order; the
        order is the caller's claim, and is itself checked.
    anchor: the hash the first record must link to -- genesis(agent_id) when
        the records start at FIRST_POSITION, otherwise a trusted hash of the
        record before them (e.g. a verified seal's head hash).
    first_position: the position the first record must carry.

    Checks per record, in this order: position (a gap explains any link
    failure that follows, so it is the more precise report), prev_hash against
    the previous record's stored hash (or the anchor), then the hash itself.
    Stops at the first failure; consumes the iterable lazily, so a caller can
    stream millions of rows.

    Limits (what seals are for): the chain alone cannot see records removed
    from its end, nor a tail rewritten from some point with every later hash
    recomputed. Both change the head hash and the Merkle root a seal signed.

    Raises ValueError only for a caller error: an anchor that is not 32 bytes.
    Bad records never raise; they are reported.
    """
    if len(anchor) != HASH_SIZE:
        raise ValueError(f"anchor must be {HASH_SIZE} bytes, got {len(anchor)}")
    expected_prev = anchor
    expected_position = first_position
    # Records are hundreds of bytes, where OpenSSL's SHA-256 (hashlib) beats
    # the builtin one merkle.py uses for its short inputs.
    sha = hashlib.sha256
    for index, (position, prev_hash, stored_hash, record_bytes) in enumerate(records):
        if position != expected_position:
            return Break(
                BreakKind.OUT_OF_SEQUENCE,
                min(position, expected_position),
                position,
                index,
                f"expected position {expected_position}, found {position}",
            )
        if prev_hash != expected_prev:
            at_genesis = index == 0 and first_position == FIRST_POSITION
            return Break(
                BreakKind.WRONG_GENESIS if at_genesis else BreakKind.BROKEN_LINK,
                position,
                position,
                index,
                f"prev_hash {prev_hash.hex()} != "
                f"{'genesis' if at_genesis else 'previous hash'} {expected_prev.hex()}",
            )
        # prev_hash equals a 32-byte anchor or stored hash here, so this is
        # exactly link(); inlined because this loop is the verify hot path.
        if sha(prev_hash + record_bytes).digest() != stored_hash:
            return Break(
                BreakKind.MODIFIED,
                position,
                position,
                index,
                f"stored hash {stored_hash.hex()} != SHA-256(prev_hash || record)",
            )
        expected_prev = stored_hash
        expected_position = position + 1
    return None
