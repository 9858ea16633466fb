"""The incident lifecycle only moves forward, and every change names its actor."""

from __future__ import annotations

import pytest

from agentaudit.codec import SingleObjectCodec
from agentaudit.incident.lifecycle import Current, LifecycleError, lifecycle_entry


def current(status: str = "open", changed_at: int = 5_000) -> Current:
    return Current("inc-1", "acme", "bot", "pii.card_number", "high", "Card number", status, "", 1_000, 4_000, 7,
                   60, 3, changed_at)


def test_an_acknowledgement_is_the_next_entry_with_its_actor_and_note() -> None:
    entry = lifecycle_entry(current(), "acknowledged", "alice@soc", "looking", "alice", 9_000)
    assert (entry["version"], entry["status"], entry["change"], entry["actor"], entry["owner"], entry["note"]) == \
        (4, "acknowledged", "acknowledged", "alice@soc", "alice", "looking")
    assert (entry["hit_count"], entry["first_seen"], entry["changed_at"]) == (7, 1_000, 9_000)
    SingleObjectCodec().encode("Incident", entry)  # a valid Incident v2


@pytest.mark.parametrize(("status", "change"), [
    ("acknowledged", "acknowledged"), ("contained", "acknowledged"), ("resolved", "contained"),
    ("resolved", "resolved"),
])
def test_the_lifecycle_never_moves_backwards_or_repeats(status: str, change: str) -> None:
    with pytest.raises(LifecycleError, match="only moves forward"):
        lifecycle_entry(current(status), change, "alice", "note", None, 9_000)


def test_steps_may_be_skipped() -> None:
    assert lifecycle_entry(current(), "resolved", "bob", "false positive: test data", None, 9_000)["status"] == "resolved"


def test_a_resolution_needs_a_note_and_every_change_an_actor() -> None:
    with pytest.raises(LifecycleError, match="--note"):
        lifecycle_entry(current(), "resolved", "bob", None, None, 9_000)
    with pytest.raises(LifecycleError, match="--actor"):
        lifecycle_entry(current(), "acknowledged", " ", None, None, 9_000)


def test_a_change_is_never_timed_before_the_newest_entry() -> None:
    assert lifecycle_entry(current(changed_at=10_000), "acknowledged", "a", None, None, 9_000)["changed_at"] == 10_001


def test_only_lifecycle_changes_are_accepted() -> None:
    with pytest.raises(LifecycleError, match="not a lifecycle change"):
        lifecycle_entry(current(), "hits", "a", None, None, 9_000)
