"""Where a chain starts after expiry (verify/expiry.py), on hand-made rows and seals."""

from __future__ import annotations

from typing import Any

from agentaudit.verify.checks import ChainRows, Start
from agentaudit.verify.expiry import retained_start

DAY = 86_400_000_000
CUTOFF = 100 * DAY
BASE = Start.genesis("a")


def h(n: int) -> bytes:
    return n.to_bytes(32, "big")


def rows(first: int, last: int, ingest_day: int) -> ChainRows:
    """Records first..last, linked, ingested a day apart from ingest_day."""
    positions = list(range(first, last + 1))
    return ChainRows(positions, [h(p - 1) for p in positions], [h(p) for p in positions],
                     [True] * len(positions), [True] * len(positions), None,
                     [(ingest_day + i) * DAY for i in range(len(positions))])


def seal(seq: int, first: int, last: int, from_day: int, until_day: int) -> dict[str, Any]:
    return {"seq": seq, "first_position": first, "last_position": last, "from_time": from_day * DAY,
            "until_time": until_day * DAY, "prev_seal_hash": h(1000 + seq - 1), "head_hash": h(last)}


def test_a_chain_from_its_start_starts_at_genesis() -> None:
    assert retained_start("a", rows(1, 5, 10), [seal(1, 1, 5, 9, 15)], BASE, CUTOFF) == (BASE, [])


def test_a_prefix_older_than_the_cutoff_starts_at_the_first_retained_seal_and_record() -> None:
    """Seals 1-2 and records 1-12 expired; seal 3 (from day 95) signed 10..20, so records 13..20 remain of it."""
    start, findings = retained_start("a", rows(13, 30, 98), [seal(3, 10, 20, 95, 110), seal(4, 21, 30, 110, 120)],
                                     BASE, CUTOFF)
    assert findings == []
    assert (start.position, start.prev_hash, start.expired_before) == (13, None, 13)
    assert (start.seq, start.seal_position, start.prev_seal_hash, start.until_us) == (3, 10, h(1002), 95 * DAY)
    assert start.head_hash is None, "record 9, the head before seal 3, expired"


def test_a_first_record_just_after_a_retained_seal_links_to_its_head() -> None:
    start, findings = retained_start("a", rows(21, 30, 150), [seal(3, 10, 20, 95, 110), seal(4, 21, 30, 110, 160)],
                                     BASE, CUTOFF)
    assert findings == []
    assert (start.position, start.prev_hash) == (21, h(20))


def test_seals_missing_after_the_cutoff_cannot_have_expired() -> None:
    start, findings = retained_start("a", rows(21, 30, 150), [seal(4, 21, 30, 101, 160)], BASE, CUTOFF)
    assert start == BASE
    assert [f.kind for f in findings] == ["expiry_implausible"]
    assert "seals 1..3 are missing" in findings[0].detail


def test_records_signed_by_a_seal_that_starts_after_the_cutoff_cannot_have_expired() -> None:
    start, findings = retained_start("a", rows(15, 20, 130), [seal(3, 10, 20, 99, 140)], BASE, CUTOFF)
    assert findings == [], "seal 3 starts before the cutoff: positions 1..14 may be older"
    start, findings = retained_start("a", rows(15, 20, 130), [seal(3, 10, 20, 101, 140)], BASE, CUTOFF)
    assert start == BASE
    assert [f.kind for f in findings] == ["expiry_implausible"]
    assert "seal 3, which signed position 14, starts at" in findings[0].detail


def test_without_a_cutoff_nothing_may_have_expired() -> None:
    assert retained_start("a", rows(13, 30, 98), [seal(3, 10, 20, 95, 110)], BASE, None) == (BASE, [])


def test_an_agent_whose_records_all_expired_starts_past_its_last_seal() -> None:
    start, findings = retained_start("a", rows(1, 0, 0), [seal(5, 31, 40, 90, 99), seal(6, 41, 40, 99, 130)],
                                     BASE, CUTOFF)
    assert findings == []
    assert (start.position, start.expired_before, start.seq) == (41, 41, 5)
