"""Incidents raised by attribution and session checks, as Incident v1 dicts. No I/O.

One 'opened' entry per offending action (version 1, hit_count 1); the
processor then groups them per agent and kind like rule hits
(agentaudit.incident.grouping.IncidentGroups.finding), so a repeat inside the
window updates the open incident instead. The incident id is a UUIDv5 of the input's coordinates
(topic, partition, offset) and the kind, so reprocessing the same input after
a crash raises the same incident, not a second one, and the detail JSON is
written with sorted keys so the replayed incident is byte-identical.

Severity by kind (it routes the alert):

| kind                | severity | why                                                                  |
|---------------------|----------|----------------------------------------------------------------------|
| bad_signature       | critical | forged or altered after signing: someone can inject under an identity |
| unknown_key         | critical | signed with a key not valid now: a stolen retired key looks the same as a botched rotation |
| agent_retired       | high     | a credential that should be dead is in use                           |
| agent_suspended     | high     | the kill switch (CC7.4) did not stop the runtime                      |
| replayed_event_id   | high     | a genuine signed action sent again: capture-and-replay, or a runtime bug |
| tenant_mismatch     | high     | a genuine agent files actions under another tenant (cross-tenant)     |
| unknown_agent       | medium   | no identity to abuse: mostly an unregistered or misconfigured deployment |
| unsigned            | medium   | a runtime without its signer: misconfiguration more often than attack |
| sequence_regression | medium   | a session restarted its numbering or resent an old action; a replay of the same event is caught by its id |
| sequence_gap        | low      | actions lost between agent and broker: the record is kept, completeness is at stake, not authenticity |

The detail never carries key material, signatures, parameters or attributes:
only identifiers, coordinates and the reason.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol

from agentaudit.errors import AttributionError
from agentaudit.process.sessions import SessionCheck, SessionStatus

INCIDENT_NAMESPACE = uuid.UUID("5f1c1d2e-8a57-4b8e-9d0f-6a7e0c3b2a91")
"""Namespace of incident ids (UUIDv5). Never change it: ids already raised would change."""

ACTOR = "pipeline"


class IncidentKind(enum.StrEnum):
    UNKNOWN_AGENT = "unknown_agent"
    UNSIGNED = "unsigned"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    AGENT_RETIRED = "agent_retired"
    AGENT_SUSPENDED = "agent_suspended"
    TENANT_MISMATCH = "tenant_mismatch"
    REPLAYED_EVENT_ID = "replayed_event_id"
    SEQUENCE_REGRESSION = "sequence_regression"
    SEQUENCE_GAP = "sequence_gap"


SEVERITY: Mapping[IncidentKind, str] = MappingProxyType(
    {
        IncidentKind.BAD_SIGNATURE: "critical",
        IncidentKind.UNKNOWN_KEY: "critical",
        IncidentKind.AGENT_RETIRED: "high",
        IncidentKind.AGENT_SUSPENDED: "high",
        IncidentKind.REPLAYED_EVENT_ID: "high",
        IncidentKind.TENANT_MISMATCH: "high",
        IncidentKind.UNKNOWN_AGENT: "medium",
        IncidentKind.UNSIGNED: "medium",
        IncidentKind.SEQUENCE_REGRESSION: "medium",
        IncidentKind.SEQUENCE_GAP: "low",
    }
)

_TITLES: Mapping[IncidentKind, str] = MappingProxyType(
    {
        IncidentKind.UNKNOWN_AGENT: "Action from unregistered agent {agent}",
        IncidentKind.UNSIGNED: "Unsigned action from agent {agent}",
        IncidentKind.UNKNOWN_KEY: "Agent {agent} signed with a key that is not valid now",
        IncidentKind.BAD_SIGNATURE: "Forged or altered action: bad signature for agent {agent}",
        IncidentKind.AGENT_RETIRED: "Retired agent {agent} is still acting",
        IncidentKind.AGENT_SUSPENDED: "Suspended agent {agent} is still acting",
        IncidentKind.TENANT_MISMATCH: "Agent {agent} filed an action under another tenant",
        IncidentKind.REPLAYED_EVENT_ID: "Replayed action from agent {agent}",
        IncidentKind.SEQUENCE_REGRESSION: "Session sequence went backwards for agent {agent}",
        IncidentKind.SEQUENCE_GAP: "Actions missing in a session of agent {agent}",
    }
)


class Coordinates(Protocol):
    """Where the offending input was read; agentaudit.process.validate.Input has these."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


def incident_id(source: Coordinates, kind: IncidentKind) -> str:
    """UUIDv5 of (topic, partition, offset, kind): the same input and kind, the same id."""
    return str(uuid.uuid5(INCIDENT_NAMESPACE, f"{source.topic}\x00{source.partition}\x00{source.offset}\x00{kind}"))


def build_incident(
    kind: IncidentKind,
    reason: str,
    action: Mapping[str, Any],
    source: Coordinates,
    ingest_us: int,
    *,
    registered_tenant_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """An Incident v1 dict for one action of the given kind.

    The incident belongs to the tenant the agent is registered to when known
    (the owner of the identity must hear of it even if the action claimed
    another tenant), else to the tenant the action claimed.
    """
    agent_id = str(action["agent_id"])
    principal = action.get("principal") or {}
    detail: dict[str, Any] = {
        "kind": str(kind),
        "reason": reason,
        "agent_id": agent_id,
        "principal": f"{principal.get('type')}:{principal.get('id')}",
        "event_id": action.get("event_id"),
        "session_id": action.get("session_id"),
        "sequence": action.get("sequence"),
        "key_id": action.get("key_id"),
        "claimed_tenant_id": action.get("tenant_id"),
        "registered_tenant_id": registered_tenant_id,
        "agent_time": action.get("agent_time"),
        "source": {"topic": source.topic, "partition": source.partition, "offset": source.offset},
    }
    detail.update(extra or {})
    return {
        "incident_id": incident_id(source, kind),
        "version": 1,
        "tenant_id": registered_tenant_id or str(action["tenant_id"]),
        "agent_id": agent_id,
        "rule_id": f"integrity.{kind}",  # the integrity.* rule files list these findings
        "severity": SEVERITY[kind],
        "title": _TITLES[kind].format(agent=agent_id),
        "status": "open",
        "first_seen": ingest_us,
        "last_seen": ingest_us,
        "hit_count": 1,
        "event_ids": [str(action["event_id"])],
        "change": "opened",
        "changed_at": ingest_us,
        "actor": ACTOR,
        "owner": None,
        "risk_score": 0,
        "contain": False,
        "note": None,
        "detail": json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
    }


def rejection_incident(
    error: AttributionError, action: Mapping[str, Any], source: Coordinates, ingest_us: int
) -> dict[str, Any]:
    """The incident for an action rejected by attribute() or SessionTracker."""
    return build_incident(
        IncidentKind(error.code), error.reason, action, source, ingest_us,
        registered_tenant_id=error.registered_tenant_id,
    )


def gap_incident(
    check: SessionCheck, action: Mapping[str, Any], source: Coordinates, ingest_us: int,
    *, registered_tenant_id: str | None = None,
) -> dict[str, Any]:
    """The incident for an accepted action whose session skipped sequences."""
    if check.status is not SessionStatus.GAP:
        raise ValueError(f"a {check.status} check is not a gap")
    return build_incident(
        IncidentKind.SEQUENCE_GAP, check.reason, action, source, ingest_us,
        registered_tenant_id=registered_tenant_id,
        extra={"expected_sequence": check.expected, "missing": check.missing},
    )
