"""The incident lifecycle: which changes people may make, and the entries they write. No I/O.

    open ──▶ acknowledged ──▶ contained ──▶ resolved
      └──────────┴───────────────┴──────────▲   (a step may be skipped, never undone)

Every change is a new Incident timeline entry carrying who made it (CC7.3);
nothing already written changes. A resolved incident stays resolved: a new
hit after its window opens a new incident (agentaudit.incident.grouping).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentaudit.errors import ConfigError

STATUSES = ("open", "acknowledged", "contained", "resolved")
CHANGE_STATUS = {"acknowledged": "acknowledged", "contained": "contained", "resolved": "resolved"}


class LifecycleError(ConfigError):
    """A change the lifecycle does not allow from the incident's current status."""


@dataclass(frozen=True)
class Current:
    """An incident's state as its timeline adds up to (agentaudit.incident.queries)."""

    incident_id: str
    tenant_id: str
    agent_id: str
    rule_id: str
    severity: str
    title: str
    status: str
    owner: str
    first_seen: int
    last_seen: int
    hit_count: int
    risk_score: int
    version: int  # the highest entry number so far
    changed_at: int  # the newest entry's time, microseconds


def check_change(current: Current, change: str) -> None:
    """Refuse a change that would move the incident backwards or repeat its status."""
    target = CHANGE_STATUS.get(change)
    if target is None:
        raise LifecycleError(f"{change!r} is not a lifecycle change; use one of {', '.join(CHANGE_STATUS)}")
    now, then = STATUSES.index(current.status), STATUSES.index(target)
    if then <= now:
        raise LifecycleError(
            f"incident {current.incident_id} is {current.status}; it cannot become {target} "
            f"(the lifecycle only moves forward: {' → '.join(STATUSES)})"
        )


def lifecycle_entry(
    current: Current, change: str, actor: str, note: str | None, owner: str | None, now_us: int,
) -> dict[str, Any]:
    """The Incident v2 entry recording `change` by `actor`; check_change() first."""
    if not actor.strip():
        raise LifecycleError("every incident change names its actor: pass --actor")
    check_change(current, change)
    if change == "resolved" and not (note or "").strip():
        raise LifecycleError("a resolution needs a note saying what was found and done: pass --note")
    return {
        "incident_id": current.incident_id,
        "version": current.version + 1,
        "tenant_id": current.tenant_id,
        "agent_id": current.agent_id,
        "rule_id": current.rule_id,
        "severity": current.severity,
        "title": current.title,
        "status": CHANGE_STATUS[change],
        "first_seen": current.first_seen,
        "last_seen": current.last_seen,
        "hit_count": current.hit_count,
        "event_ids": [],
        "change": change,
        # Never before the newest entry, so the timeline's order is the order of changes
        # even when this machine's clock is behind the pipeline's.
        "changed_at": max(now_us, current.changed_at + 1),
        "actor": actor,
        "owner": owner or None,
        "risk_score": current.risk_score,
        "contain": False,
        "note": note or None,
        "detail": None,
    }


def current_of(row: Mapping[str, Any]) -> Current:
    """A Current from a row of the incidents state query."""
    return Current(**{name: row[name] for name in Current.__dataclass_fields__})
