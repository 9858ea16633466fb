"""Verifies one agent's stored chain and seals. Pure: rows in, findings out.

Each kind of tampering shows as a finding that names the first bad record
(by chain position and event id) or the bad seal (by seq):

  record_modified    the stored bytes no longer hash to the stored chain hash
  record_missing     positions are missing (deleted rows)
  record_duplicated  a position is stored twice (an inserted copy or forgery)
  link_broken        a record does not link to its predecessor (a record was
                     inserted, deleted or moved and the rest renumbered)
  wrong_genesis      the first record does not start this agent's chain
  link_mismatch      the chain link inside the stored bytes differs from the
                     position/hash columns queries read
  seal_bad_signature, seal_unknown_key, seal_broken_link, seal_out_of_sequence,
  seal_gap (positions or time not contiguous), seal_root_mismatch,
  seal_head_mismatch   a seal that was forged, replaced, removed, or that no
                     longer matches the records it signed
  unsealed           records older than two sealing periods have no seal
  seals_missing_at_end  the agent's last seal ends well before the others'
  expiry_implausible records or seals are missing from the start of a chain
                     in a way retention cannot explain (verify/expiry.py)
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from agentaudit.chain.links import genesis
from agentaudit.chain.merkle import root

EMPTY_ROOT = root(())
from agentaudit.chain.seal import SealForm, SignatureCheck, seal_genesis


@dataclass(frozen=True)
class Finding:
    kind: str
    agent_id: str
    detail: str
    position: int | None = None
    event_id: str | None = None
    seal_seq: int | None = None
    file: str | None = None  # evidence bundles: the file and line the finding is about
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ChainRows:
    """One agent's stored records in position order, column by column."""

    positions: Sequence[int]
    prev_hashes: Sequence[bytes]
    hashes: Sequence[bytes]
    content_ok: Sequence[bool]  # SHA-256(prev_hash || canonical bytes) == hash
    link_ok: Sequence[bool]  # the chain link ending the stored bytes == (position, prev_hash, hash) columns
    event_ids: Sequence[str] | None  # None: the store names events afterwards, for findings only
    ingest_us: Sequence[int]


@dataclass
class Anchor:
    """Where a partial verification starts: a verified seal before the range."""

    position: int  # last position it covered
    head_hash: bytes
    seal_hash: bytes
    seq: int
    until_us: int


@dataclass(frozen=True)
class Start:
    """Where one agent's verification starts, for its records and for its seals.

    From the chain's genesis; from an anchor seal before a --since range; or,
    after expiry, from the first retained record and seal (verify/expiry.py),
    where what came before is gone and cannot be compared with.
    """

    position: int  # the first record expected
    prev_hash: bytes | None  # what that record links to; None: its predecessor expired
    seq: int  # the first seal expected
    seal_position: int  # the first position that seal covers
    prev_seal_hash: bytes
    head_hash: bytes | None  # the chain's head before that seal; None: the record holding it expired
    until_us: int | None  # where that seal starts in time; None: anywhere (the chain's first seal)
    # Positions below this expired: a seal that signed some of them is partially
    # retained (its Merkle root needs every leaf, its head hash still binds the rest).
    expired_before: int = 0

    @classmethod
    def genesis(cls, agent_id: str) -> Start:
        head = genesis(agent_id)
        return cls(1, head, 1, 1, seal_genesis(agent_id), head, None)

    @classmethod
    def after(cls, anchor: Anchor) -> Start:
        position = anchor.position + 1
        return cls(position, anchor.head_hash, anchor.seq + 1, position, anchor.seal_hash, anchor.head_hash,
                   anchor.until_us)


@dataclass
class AgentResult:
    agent_id: str
    records: int = 0
    seals: int = 0
    sealed_through: int = 0
    unsealed: int = 0  # records past the last seal (recent ones are normal: their seal is yet to come)
    findings: list[Finding] = field(default_factory=list)
    expired_records: int = 0  # positions before the first retained record, accepted as expired
    expired_seals: int = 0  # seals before the first retained seal, accepted as expired


def check_chain(agent_id: str, rows: ChainRows, start: Start, *, only_first: bool = False) -> list[Finding]:
    """The first break in the agent's chain, if any (later ones may be its echo).

    only_first: the caller already checked every later record in bulk (the
    ClickHouse path does it vectorised), so only the link to the start is left.
    """
    expected_prev = start.prev_hash
    expected_pos = start.position

    def at(kind: str, detail: str) -> list[Finding]:
        return [Finding(kind, agent_id, detail, position, rows.event_ids[i] if rows.event_ids else None)]

    for i, position in enumerate(rows.positions):
        if position != expected_pos:
            if position > expected_pos:
                missing = f"{expected_pos}" if position == expected_pos + 1 else f"{expected_pos}..{position - 1}"
                return at("record_missing", f"positions {missing} are missing before this record")
            return at("record_duplicated", f"position {position} is stored more than once")
        if not rows.link_ok[i]:
            return at("link_mismatch", "the chain link in the stored bytes differs from the columns")
        if not rows.content_ok[i]:
            return at("record_modified", "stored bytes do not hash to the stored chain hash")
        if expected_prev is not None and rows.prev_hashes[i] != expected_prev:
            if position == 1:
                return at("wrong_genesis", "the first record does not start this agent's chain")
            return at("link_broken", "does not link to the record before it (inserted, deleted or moved)")
        if only_first:
            break
        expected_prev = rows.hashes[i]
        expected_pos = position + 1
    return []


def check_seals(
    agent_id: str,
    seals: list[dict[str, Any]],
    rows: ChainRows,
    start: Start,
    form: SealForm,
    public_keys: Mapping[str, bytes],
    check_signature: SignatureCheck,
    roots: Mapping[int, tuple[int, bytes, bytes]] | None = None,
) -> list[Finding]:
    """Every problem with the agent's seals, in seq order.

    roots: seal seq -> (records found, Merkle root over their chain hashes,
    the last one's hash), when the store computed them (ClickHouse does it in
    place); otherwise they are computed here from rows.
    """
    findings: list[Finding] = []
    by_position = {} if roots is not None else dict(zip(rows.positions, rows.hashes, strict=True))
    prev_hash = start.prev_seal_hash
    next_seq = start.seq
    next_position = start.seal_position
    head = start.head_hash
    prev_until = start.until_us
    for seal in seals:
        seq = seal["seq"]

        def bad(kind: str, detail: str) -> None:
            findings.append(Finding(kind, agent_id, detail, seal_seq=seq))  # noqa: B023 -- used at once

        if seal["key_id"] not in public_keys:
            bad("seal_unknown_key", f"signed with key {seal['key_id']!r}, which is not a pipeline key")
        elif not form.signature_valid(seal, public_keys, check_signature):
            bad("seal_bad_signature", f"signature does not verify with pipeline key {seal['key_id']}")
        if seq != next_seq:
            bad("seal_out_of_sequence", f"expected seal {next_seq}, found {seq} (seals missing or repeated)")
        if seal["prev_seal_hash"] != prev_hash:
            bad("seal_broken_link", "does not link to the previous seal (a seal was replaced, removed or inserted)")
        if seal["first_position"] != next_position:
            bad("seal_gap", f"covers positions from {seal['first_position']}, expected {next_position}")
        if prev_until is not None and seal["from_time"] != prev_until:
            bad("seal_gap", f"covers time from {seal['from_time']}, the previous seal ended at {prev_until}")
        first, last = seal["first_position"], seal["last_position"]
        covered = last - first + 1
        retained = covered if first >= start.expired_before else max(0, last - start.expired_before + 1)
        last_hash: bytes | None
        if roots is not None:
            found, computed, last_hash = roots.get(seq, (0, EMPTY_ROOT, None))
        else:
            leaves = [h for p in range(first, last + 1) if (h := by_position.get(p)) is not None]
            found, computed = len(leaves), root(leaves)
            last_hash = leaves[-1] if leaves else None
        if found < retained:
            bad("seal_root_mismatch", f"{retained - found} of the {covered} records it signed are not stored")
        elif retained == covered and computed != seal["merkle_root"]:
            bad("seal_root_mismatch", "the stored records it covers do not give its Merkle root")
        # else partially retained: the root needs the expired leaves, the head hash still binds the rest
        if not covered:
            last_hash = head
        if found >= retained and last_hash is not None and seal["head_hash"] != last_hash:
            bad("seal_head_mismatch", "its head hash is not the hash of the last record it covers")
        head = seal["head_hash"]
        prev_hash = form.seal_hash(seal)
        next_seq = seq + 1
        next_position = seal["last_position"] + 1
        prev_until = seal["until_time"]
    return findings


def first_unsealed(rows: ChainRows, sealed_through: int) -> int:
    """Index of the first record past sealed_through (positions are sorted)."""
    return bisect.bisect_right(rows.positions, sealed_through)


def check_tail(
    agent_id: str, rows: ChainRows, sealed_through: int, last_until: int | None, horizon_us: int, interval_us: int
) -> list[Finding]:
    """Records and time past the last seal: fine if recent, a finding if stale.

    horizon_us is the time the verification speaks for: the newest seal of any
    agent, or an explicit --until. Records or seals missing from the end of
    one chain show against it; a cut across every chain at once shows only
    against a horizon the auditor supplies (--until now).
    """
    findings: list[Finding] = []
    stale_before = horizon_us - 2 * interval_us
    i = first_unsealed(rows, sealed_through)
    if i < len(rows.positions) and rows.ingest_us[i] < stale_before:
        findings.append(
            Finding(
                "unsealed", agent_id,
                "stored record has no seal although its sealing period is long over "
                "(inserted after the fact, or its seals were removed)",
                position=rows.positions[i], event_id=rows.event_ids[i] if rows.event_ids else None,
            )
        )
    if last_until is not None and last_until < stale_before:
        findings.append(
            Finding(
                "seals_missing_at_end", agent_id,
                f"last seal ends {(horizon_us - last_until) / 1e6:.0f}s before the verified horizon; "
                "every chain is sealed each period, so later seals (and maybe records) were removed",
            )
        )
    return findings
