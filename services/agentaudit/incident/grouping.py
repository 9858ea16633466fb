"""Rule hits grouped into incidents, one open incident per agent and rule. No I/O, no clock.

The detection stage scores every record; a hit that crosses its tenant's
threshold belongs to an incident. Per agent, IncidentGroups remembers for each
rule the incident currently collecting hits and when it last had one:

- the first hit, or the first after the rule's group window passed without
  one, opens a new incident: an 'opened' entry (version 1) that the alerter
  pages on;
- later hits inside the window join it. Each is counted, but a 'hits' entry
  is written only at the 2nd, 4th, 8th, … hit and then every 100th, so a rule
  that matches every action of a chatty agent updates on-call's count without
  doubling the incidents topic. The newest entry always has an exact
  first_seen and a hit_count no older than that schedule. A hit that asks for
  containment is always written: it is what suspends the agent (again, if it
  was reinstated and does it again).

Deterministic, like the rest of the processor: the incident id is a UUIDv5 of
the opening action's coordinates and the rule, times are ingest times, and the
state is saved with the agent's chain state after each batch, so a replay
after a crash writes byte-identical entries (the sink stores each once by
their hash).

The processor cannot see lifecycle changes people make (acknowledged,
resolved…): hits that arrive inside the window after a resolution still join
the resolved incident, whose list entry then shows hits after its resolution
rather than a silent new incident; after the window a new one opens.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agentaudit.process.incidents import ACTOR, INCIDENT_NAMESPACE, Coordinates
from agentaudit.severity import SEVERITY_RANK

EVENT_IDS_KEPT = 20
"""Event ids an incident lists (the first ones): enough to start an investigation,
bounded so a long-running incident stays a small message."""

class RuleHit(Protocol):
    """What grouping needs of a detection hit (agentaudit.detect.Hit has these)."""

    @property
    def rule_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def reason(self) -> str: ...
    @property
    def contain(self) -> bool: ...
    @property
    def group_window_us(self) -> int: ...


@dataclass
class _Open:
    incident_id: str
    version: int
    first_seen: int
    last_seen: int
    hit_count: int
    event_ids: list[str]
    risk_score: int
    severity: str
    window_us: int  # the rule's group window when the incident last had a hit

    def to_list(self) -> list[Any]:
        return [self.incident_id, self.version, self.first_seen, self.last_seen, self.hit_count,
                self.event_ids, self.risk_score, self.severity, self.window_us]


def published(hit_count: int) -> bool:
    """Whether the hit that brought the count to hit_count gets its own 'hits' entry."""
    return hit_count & (hit_count - 1) == 0 or hit_count % 100 == 0


class IncidentGroups:
    """The incidents collecting one agent's hits, by rule; to_state() is saved with its chain state."""

    def __init__(self, agent_id: str, state: Mapping[str, Any] | None = None) -> None:
        self.agent_id = agent_id
        self._open: dict[str, _Open] = {rule: _Open(*values) for rule, values in (state or {}).items()}

    def to_state(self) -> dict[str, Any]:
        return {rule: incident.to_list() for rule, incident in sorted(self._open.items())}

    def hit(
        self, hit: RuleHit, action: Mapping[str, Any], source: Coordinates, ingest_us: int, risk_score: int,
        *, contained: bool = False,
    ) -> dict[str, Any] | None:
        """Count one hit; the Incident v2 entry to publish, or None when this hit gets none."""
        event_id = str(action["event_id"])
        current = self._open_for(hit.rule_id, ingest_us)
        if current is None:
            current = self._open[hit.rule_id] = _Open(
                _incident_id(source, hit.rule_id), 1, ingest_us, ingest_us, 1, [event_id], risk_score, hit.severity,
                hit.group_window_us)
            return self._entry(current, hit, action, source, ingest_us, "opened", contained)
        current.risk_score = max(current.risk_score, risk_score)
        if SEVERITY_RANK[hit.severity] > SEVERITY_RANK[current.severity]:
            current.severity = hit.severity
        # every containing hit is written: it is what acts
        if not self._join(current, ingest_us, hit.group_window_us, [event_id], always=contained):
            return None
        return self._entry(current, hit, action, source, ingest_us, "hits", contained)

    def finding(self, incident: Mapping[str, Any], window_us: int) -> dict[str, Any] | None:
        """Group an integrity stage's finding, given as its own 'opened' entry (process.incidents).

        The first in the window opens (the entry as given); a repeat joins the
        open incident like a rule hit, its detail kept as the latest context.
        """
        now, rule_id = int(incident["changed_at"]), str(incident["rule_id"])
        current = self._open_for(rule_id, now)
        if current is None:
            self._open[rule_id] = _Open(str(incident["incident_id"]), 1, now, now, 1, list(incident["event_ids"]),
                                        int(incident["risk_score"]), str(incident["severity"]), window_us)
            return dict(incident)
        if not self._join(current, now, window_us, list(incident["event_ids"])):
            return None
        return {
            **incident, "incident_id": current.incident_id, "version": current.version, "change": "hits",
            "first_seen": current.first_seen, "last_seen": now, "hit_count": current.hit_count,
            "event_ids": list(current.event_ids), "severity": current.severity,
        }

    def _open_for(self, rule_id: str, now_us: int) -> _Open | None:
        """The incident still collecting the rule's hits at now_us, if any (closed windows forgotten first)."""
        for rule in [r for r, incident in self._open.items() if now_us - incident.last_seen > incident.window_us]:
            del self._open[rule]
        return self._open.get(rule_id)

    @staticmethod
    def _join(current: _Open, now_us: int, window_us: int, event_ids: list[str], *, always: bool = False) -> bool:
        """Count one more hit; whether it gets an entry (then under the next version)."""
        current.last_seen = now_us
        current.window_us = window_us
        current.hit_count += 1
        current.event_ids.extend(event_ids[: max(0, EVENT_IDS_KEPT - len(current.event_ids))])
        if not (always or published(current.hit_count)):
            return False
        current.version += 1
        return True

    def _entry(
        self, current: _Open, hit: RuleHit, action: Mapping[str, Any], source: Coordinates, ingest_us: int,
        change: str, contained: bool,
    ) -> dict[str, Any]:
        principal = action.get("principal") or {}
        detail = {
            "rule_id": hit.rule_id,
            "reason": hit.reason,
            "agent_id": self.agent_id,
            "principal": f"{principal.get('type')}:{principal.get('id')}",
            "event_id": str(action["event_id"]),
            "session_id": action.get("session_id"),
            "action_type": action.get("action_type"),
            "tool": action.get("tool"),
            "resource": action.get("resource"),
            "source": {"topic": source.topic, "partition": source.partition, "offset": source.offset},
        }
        return {
            "incident_id": current.incident_id,
            "version": current.version,
            "tenant_id": str(action["tenant_id"]),
            "agent_id": self.agent_id,
            "rule_id": hit.rule_id,
            "severity": current.severity,
            "title": f"{hit.title} ({self.agent_id})",
            "status": "open",
            "first_seen": current.first_seen,
            "last_seen": current.last_seen,
            "hit_count": current.hit_count,
            "event_ids": list(current.event_ids),
            "change": change,
            "changed_at": ingest_us,
            "actor": ACTOR,
            "owner": None,
            "risk_score": current.risk_score,
            "contain": contained,
            "note": None,
            "detail": json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        }


def _incident_id(source: Coordinates, rule_id: str) -> str:
    """UUIDv5 of the opening action's coordinates and the rule: a replay opens the same incident."""
    return str(uuid.uuid5(INCIDENT_NAMESPACE, f"{source.topic}\x00{source.partition}\x00{source.offset}\x00{rule_id}"))
