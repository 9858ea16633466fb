"""Grouping rule hits into incidents: one open incident per agent and rule within its window."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentaudit.codec import SingleObjectCodec
from agentaudit.incident.grouping import IncidentGroups, published

HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class FakeHit:
    rule_id: str = "pii.card_number"
    title: str = "Card number in parameters"
    severity: str = "high"
    reason: str = "card number (Luhn-valid) in parameters"
    contain: bool = False
    group_window_us: int = HOUR_US


@dataclass(frozen=True)
class At:
    topic: str = "agent.actions"
    partition: int = 0
    offset: int = 0


def action(n: int) -> dict[str, Any]:
    return {"event_id": f"e{n}", "agent_id": "bot", "tenant_id": "acme", "session_id": "s",
            "principal": {"type": "user", "id": "alice"}, "action_type": "tool_call", "tool": "crm", "resource": None}


def test_the_first_hit_opens_and_later_hits_in_the_window_join_it() -> None:
    groups = IncidentGroups("bot")
    first = groups.hit(FakeHit(), action(0), At(offset=10), 1_000, 60)
    assert first is not None and first["change"] == "opened" and first["version"] == 1 and first["hit_count"] == 1
    second = groups.hit(FakeHit(), action(1), At(offset=11), 2_000, 80)
    assert second is not None and second["change"] == "hits"
    assert (second["incident_id"], second["version"], second["hit_count"]) == (first["incident_id"], 2, 2)
    assert (second["first_seen"], second["last_seen"], second["risk_score"]) == (1_000, 2_000, 80)
    assert second["event_ids"] == ["e0", "e1"]
    third = groups.hit(FakeHit(), action(2), At(offset=12), 3_000, 10)
    assert third is None  # 3 is not on the publishing schedule
    fourth = groups.hit(FakeHit(), action(3), At(offset=13), 4_000, 10)
    assert fourth is not None and fourth["hit_count"] == 4 and fourth["version"] == 3 and fourth["risk_score"] == 80


def test_a_hit_after_the_window_opens_a_new_incident() -> None:
    groups = IncidentGroups("bot")
    first = groups.hit(FakeHit(), action(0), At(offset=1), 0, 50)
    again = groups.hit(FakeHit(), action(1), At(offset=2), HOUR_US + 1, 50)
    assert first is not None and again is not None
    assert again["change"] == "opened" and again["incident_id"] != first["incident_id"]


def test_different_rules_make_different_incidents_and_the_state_forgets_closed_windows() -> None:
    groups = IncidentGroups("bot")
    a = groups.hit(FakeHit(), action(0), At(offset=1), 0, 50)
    b = groups.hit(FakeHit(rule_id="scope.tool"), action(0), At(offset=1), 0, 50)
    assert a is not None and b is not None and a["incident_id"] != b["incident_id"]
    groups.hit(FakeHit(rule_id="scope.tool"), action(1), At(offset=2), 2 * HOUR_US, 50)
    assert list(groups.to_state()) == ["scope.tool"]


def test_severity_only_rises() -> None:
    groups = IncidentGroups("bot")
    groups.hit(FakeHit(severity="medium"), action(0), At(offset=1), 0, 50)
    up = groups.hit(FakeHit(severity="critical"), action(1), At(offset=2), 1, 50)
    assert up is not None and up["severity"] == "critical"
    for n in range(2, 4):
        last = groups.hit(FakeHit(severity="low"), action(n), At(offset=n + 1), n, 50)
    assert last is not None and last["severity"] == "critical"


def test_a_replay_from_saved_state_writes_byte_identical_entries() -> None:
    codec = SingleObjectCodec()
    hits = [(FakeHit(rule_id=f"r{n % 3}"), action(n), At(offset=n), n * 60_000_000, n % 100) for n in range(300)]
    straight = IncidentGroups("bot")
    expected = [straight.hit(*h) for h in hits]
    resumed = IncidentGroups("bot")
    replayed = [resumed.hit(*h) for h in hits[:150]]
    saved = json.dumps(resumed.to_state())
    resumed = IncidentGroups("bot", json.loads(saved))
    replayed += [resumed.hit(*h) for h in hits[150:]]
    assert [codec.encode("Incident", e) if e else None for e in replayed] == \
        [codec.encode("Incident", e) if e else None for e in expected]
    assert resumed.to_state() == straight.to_state()


def test_the_publishing_schedule_is_powers_of_two_then_every_hundredth() -> None:
    assert [n for n in range(1, 401) if published(n)] == [1, 2, 4, 8, 16, 32, 64, 100, 128, 200, 256, 300, 400]


def test_the_detail_names_the_action_but_never_its_parameters() -> None:
    entry = IncidentGroups("bot").hit(FakeHit(), {**action(0), "parameters": '{"card": "4111111111111111"}'},
                                      At(offset=5), 0, 50)
    assert entry is not None and "4111" not in json.dumps(entry)
    assert json.loads(entry["detail"])["source"] == {"topic": "agent.actions", "partition": 0, "offset": 5}


def test_integrity_findings_group_like_hits_and_keep_their_own_context() -> None:
    from agentaudit.errors import AttributionError
    from agentaudit.process.incidents import rejection_incident

    groups = IncidentGroups("ghost")
    forged = [rejection_incident(AttributionError("unknown_agent", "no such agent"), {**action(n), "agent_id": "ghost"},
                                 At(offset=n), 1_000 + n) for n in range(4)]
    entries = [groups.finding(f, HOUR_US) for f in forged]
    assert [(e["change"], e["hit_count"], e["version"]) if e else None for e in entries] == \
        [("opened", 1, 1), ("hits", 2, 2), None, ("hits", 4, 3)]
    assert {e["incident_id"] for e in entries if e} == {forged[0]["incident_id"]}
    last = entries[-1]
    assert last is not None and last["event_ids"] == ["e0", "e1", "e2", "e3"] and last["first_seen"] == 1_000
    assert json.loads(last["detail"])["source"]["offset"] == 3  # the latest finding's context
    later = groups.finding({**forged[0], "incident_id": "x", "changed_at": 1_000 + 2 * HOUR_US}, HOUR_US)
    assert later is not None and later["change"] == "opened" and later["incident_id"] == "x"


def test_every_containing_hit_is_written_whatever_the_schedule() -> None:
    groups = IncidentGroups("bot")
    hit = FakeHit(severity="critical", contain=True)
    entries = [groups.hit(hit, action(n), At(offset=n), n, 90, contained=True) for n in range(3)]
    assert [(e["change"], e["hit_count"], e["contain"]) for e in entries if e] == \
        [("opened", 1, True), ("hits", 2, True), ("hits", 3, True)]
