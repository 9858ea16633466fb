"""Where an agent's chain starts once retention has removed its oldest records and seals. Pure.

Records expire by ingest time and seals by until_time, a whole part (within a
monthly partition) at a time, and only once every row in the part is older
than the retention cutoff (now - AGENTAUDIT_RETENTION_DAYS). Along one chain
both times only grow with position and seq, so expiry removes a *prefix* of
each chain's records and of its seals -- never a hole -- and everything it
removed is older than the cutoff. Those two facts are what is checked here;
anything else missing is tampering, and the ordinary checks name it.

Seals record the boundary. The first retained seal carries, signed, the hash
of the seal before it (prev_seal_hash), the first position it covers, and
when it starts (from_time, the end of the seal before it):

- seals before it may have expired only if it starts at or before the
  cutoff (the one before it ended then, and was dropped after that);
- records before the first retained one may have expired only if they were
  ingested before the cutoff: known when the first retained record itself is
  that old, or when the seal that signed the last missing position started
  before the cutoff (it expired itself, or it is retained and its from_time
  says so). A seal spans at most one sealing period, so this lets a deletion
  pass only among records within one sealing period of the cutoff, which
  expire within that period anyway.

What remains is then verified in full from there: every retained record
links to the next, and a seal whose oldest records expired still has its
signature, links and head hash checked (the head hash binds every retained
record before it through the chain); only its Merkle root, which needs every
leaf, is left out. Missing data that fails these tests is reported as
expiry_implausible beside the ordinary findings (record_missing naming the
first retained record, seal_out_of_sequence, ...).
"""

from __future__ import annotations

import bisect
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from agentaudit.verify.checks import ChainRows, Finding, Start


def _at(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _hash_at(rows: ChainRows, position: int) -> bytes | None:
    """The stored hash of the record at `position`, if it is retained."""
    i = bisect.bisect_left(rows.positions, position)
    return rows.hashes[i] if i < len(rows.positions) and rows.positions[i] == position else None


def _first_retained(rows: ChainRows, seals: list[dict[str, Any]]) -> int | None:
    """The first retained position: the first stored record's, or past the last seal's when none is stored."""
    if rows.positions:
        return int(rows.positions[0])
    return int(seals[-1]["last_position"]) + 1 if seals else None


def _missing_records_problem(
    rows: ChainRows, seals: list[dict[str, Any]], base: Start, first: int, seals_expired: bool, cutoff_us: int
) -> str | None:
    """Why the records before the first retained position cannot all have expired, or None when they can."""
    last_missing = first - 1
    span = f"positions {base.position}..{last_missing}" if last_missing > base.position else f"position {last_missing}"
    if rows.positions and rows.ingest_us[0] <= cutoff_us:
        return None  # the first retained record is past the cutoff already, and every missing one is older
    signer = next((s for s in seals if s["first_position"] <= last_missing <= s["last_position"]), None)
    if signer is not None:
        if signer["from_time"] <= cutoff_us:
            return None
        return (f"{span} are missing, but seal {signer['seq']}, which signed position {last_missing}, starts at "
                f"{_at(signer['from_time'])}, after the retention cutoff {_at(cutoff_us)}")
    if seals_expired and seals and last_missing < seals[0]["first_position"]:
        return None  # signed by a seal that expired itself, so before the cutoff
    return (f"{span} are missing, and no retained seal shows they were ingested before the retention cutoff "
            f"{_at(cutoff_us)}")


def retained_start(
    agent_id: str, rows: ChainRows, seals: list[dict[str, Any]], base: Start, cutoff_us: int | None
) -> tuple[Start, list[Finding]]:
    """Where to verify the agent from, and any finding that the missing start is not expiry.

    base: where its data should start (genesis, or the anchor of a --since
    range); seals: its retained seals in seq order; cutoff_us: data older
    than this may have expired (None: nothing may have, as in a bundle that
    does not state a cutoff). Returns base itself when nothing is missing, or
    when what is missing cannot be expiry -- the ordinary checks then name
    the first bad record or seal.
    """
    first_seal = seals[0] if seals else None
    first = _first_retained(rows, seals)
    records_expired = first is not None and first > base.position
    seals_expired = first_seal is not None and first_seal["seq"] > base.seq
    if not (records_expired or seals_expired) or cutoff_us is None:
        return base, []
    problems: list[str] = []
    if first_seal is not None and seals_expired and first_seal["from_time"] > cutoff_us:
        problems.append(
            f"seals {base.seq}..{first_seal['seq'] - 1} are missing, but the first retained seal starts at "
            f"{_at(first_seal['from_time'])}, after the retention cutoff {_at(cutoff_us)}"
        )
    if records_expired and first is not None:
        problem = _missing_records_problem(rows, seals, base, first, seals_expired, cutoff_us)
        if problem:
            problems.append(problem)
    if problems:
        return base, [Finding("expiry_implausible", agent_id, "; ".join(problems) + ": they cannot have expired")]

    start = base
    if seals_expired and first_seal is not None:
        start = replace(
            start, seq=first_seal["seq"], seal_position=first_seal["first_position"],
            prev_seal_hash=first_seal["prev_seal_hash"], until_us=first_seal["from_time"],
            head_hash=_hash_at(rows, first_seal["first_position"] - 1),
        )
    if records_expired and first is not None:
        # A retained seal ending just before the first retained record says what it links to.
        ending = next((s for s in seals if s["last_position"] == first - 1 >= s["first_position"]), None)
        start = replace(start, position=first, prev_hash=ending["head_hash"] if ending else None,
                        expired_before=first)
    return start, []
