"""An Incident timeline entry as an OCSF Detection Finding (class 2004), for the generic webhook.

Mapped per OCSF 1.3.0 (https://schema.ocsf.io/1.3.0/classes/detection_finding):

| OCSF field                     | from the incident entry                                         |
|--------------------------------|-----------------------------------------------------------------|
| class_uid 2004, category_uid 2 | constant: Detection Finding, in the Findings category           |
| activity_id / activity_name    | change: opened 1 Create, acknowledged and contained 2 Update, resolved 3 Close |
| type_uid                       | class_uid * 100 + activity_id (200401, 200402, 200403)          |
| time                           | changed_at (last_seen for version 1 entries, which lack it), epoch ms |
| severity_id / severity         | severity: info 1 Informational, low 2, medium 3, high 4, critical 5 |
| status_id / status             | status: open 1 New, acknowledged and contained 2 In Progress, resolved 4 Resolved |
| risk_score                     | risk_score (0-100)                                              |
| message                        | title                                                           |
| finding_info.uid               | incident_id (stable across the timeline)                        |
| finding_info.title             | title                                                           |
| finding_info.types             | [rule_id]                                                       |
| finding_info.first_seen_time / last_seen_time | first_seen / last_seen, epoch ms                 |
| metadata.product               | {name, vendor_name: agentaudit, version: the package version}   |
| metadata.version               | the OCSF schema version this mapping follows, 1.3.0             |
| metadata.uid                   | the dedup key, incident_id:change (receivers drop repeats)      |
| unmapped                       | agentaudit fields without an OCSF home: tenant_id, agent_id, rule_id, change, version, owner, actor, note, contain, hit_count, event_ids, detail (parsed JSON) |

Times in OCSF are epoch milliseconds; the incident's are microseconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentaudit import __version__

OCSF_VERSION = "1.3.0"
CLASS_UID = 2004
CATEGORY_UID = 2

SEVERITY_IDS: Mapping[str, tuple[int, str]] = {
    "info": (1, "Informational"), "low": (2, "Low"), "medium": (3, "Medium"),
    "high": (4, "High"), "critical": (5, "Critical"),
}
STATUS_IDS: Mapping[str, tuple[int, str]] = {
    "open": (1, "New"), "acknowledged": (2, "In Progress"), "contained": (2, "In Progress"),
    "resolved": (4, "Resolved"),
}
ACTIVITY_IDS: Mapping[str, tuple[int, str]] = {
    "opened": (1, "Create"), "hits": (2, "Update"), "acknowledged": (2, "Update"),
    "contained": (2, "Update"), "resolved": (3, "Close"),
}


def dedup_key(incident: Mapping[str, Any]) -> str:
    """What a receiver de-duplicates on: the same change of the same incident is one alert."""
    return f"{incident['incident_id']}:{incident['change']}"


def entry_time_us(incident: Mapping[str, Any]) -> int:
    """When the entry was made; version 1 entries carry 0 in changed_at."""
    return int(incident.get("changed_at") or incident["last_seen"])


def detail_of(incident: Mapping[str, Any]) -> Any:
    """The detail JSON as an object; kept as text if a writer put something else there."""
    raw = incident.get("detail")
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def detection_finding(incident: Mapping[str, Any]) -> dict[str, Any]:
    """The OCSF Detection Finding for one timeline entry (see the module's table)."""
    activity_id, activity_name = ACTIVITY_IDS[str(incident["change"])]
    severity_id, severity = SEVERITY_IDS[str(incident["severity"])]
    status_id, status = STATUS_IDS[str(incident["status"])]
    return {
        "class_uid": CLASS_UID,
        "class_name": "Detection Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": CLASS_UID * 100 + activity_id,
        "time": entry_time_us(incident) // 1000,
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "risk_score": int(incident.get("risk_score") or 0),
        "message": str(incident["title"]),
        "finding_info": {
            "uid": str(incident["incident_id"]),
            "title": str(incident["title"]),
            "types": [str(incident["rule_id"])],
            "first_seen_time": int(incident["first_seen"]) // 1000,
            "last_seen_time": int(incident["last_seen"]) // 1000,
        },
        "metadata": {
            "product": {"name": "agentaudit", "vendor_name": "agentaudit", "version": __version__},
            "version": OCSF_VERSION,
            "uid": dedup_key(incident),
        },
        "unmapped": {
            "tenant_id": incident["tenant_id"],
            "agent_id": incident["agent_id"],
            "rule_id": incident["rule_id"],
            "change": incident["change"],
            "version": incident["version"],
            "owner": incident.get("owner"),
            "actor": incident.get("actor"),
            "note": incident.get("note"),
            "contain": bool(incident.get("contain")),
            "hit_count": incident["hit_count"],
            "event_ids": list(incident.get("event_ids") or []),
            "detail": detail_of(incident),
        },
    }
