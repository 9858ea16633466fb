"""Incidents for every attribution rejection and for gaps: valid Incident v1
messages, severity by kind, and the same incident again on a replay."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agentaudit.codec import SingleObjectCodec, load_schemas
from agentaudit.errors import AttributionError
from agentaudit.process.attribute import CachingSecretOpener, attribute
from agentaudit.process.incidents import (
    INCIDENT_NAMESPACE, SEVERITY, IncidentKind, build_incident, gap_incident, incident_id, rejection_incident,
)
from agentaudit.process.sessions import SessionTracker
from agentaudit.process.validate import LOG_APPEND_TIME, Input
from agentaudit.signing import Ed25519Signer
from tests.unit.process.attribution_support import DAY, T0, KekOpener, Source, action, view

CODEC = SingleObjectCodec()
SOURCE = Source("agent.actions", 1, 42)
INGEST = T0 + DAY


def roundtrip(incident: dict[str, Any]) -> dict[str, Any]:
    decoded = CODEC.decode("Incident", CODEC.encode("Incident", incident))
    assert decoded == incident
    return decoded


@pytest.mark.parametrize("code", sorted(AttributionError.CODES))
def test_every_rejection_code_gives_a_valid_incident(code: str) -> None:
    signed = action()
    incident = roundtrip(rejection_incident(AttributionError(code, f"because {code}", registered_tenant_id="acme"),
                                            signed, SOURCE, INGEST))
    kind = IncidentKind(code)
    assert incident["severity"] == SEVERITY[kind] and incident["rule_id"] == f"integrity.{code}"
    assert (incident["version"], incident["status"], incident["hit_count"], incident["actor"]) == (1, "open", 1, "pipeline")
    assert incident["first_seen"] == incident["last_seen"] == INGEST
    assert incident["event_ids"] == [signed["event_id"]] and incident["agent_id"] == "support-bot"
    detail = json.loads(incident["detail"])
    assert detail["reason"] == f"because {code}" and detail["kind"] == code
    assert detail["source"] == {"topic": "agent.actions", "partition": 1, "offset": 42}
    assert (detail["principal"], detail["session_id"], detail["sequence"]) == ("user:alice", "s-1", 1)
    assert detail["key_id"] == "ed-1" and detail["event_id"] == signed["event_id"]


def test_severity_table() -> None:
    assert set(SEVERITY) == set(IncidentKind)
    assert {k.value for k in IncidentKind} == AttributionError.CODES | {"sequence_gap"}
    symbols = set(load_schemas().latest("Incident").raw["fields"][5]["type"]["symbols"])
    assert set(SEVERITY.values()) <= symbols
    assert SEVERITY[IncidentKind.BAD_SIGNATURE] == SEVERITY[IncidentKind.UNKNOWN_KEY] == "critical"
    assert SEVERITY[IncidentKind.SEQUENCE_GAP] == "low"


def test_a_gap_incident_carries_expected_and_missing() -> None:
    tracker = SessionTracker()
    tracker.check(action(sequence=1))
    gapped = action(sequence=4, event_id="01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f9")
    check = tracker.check(gapped)
    incident = roundtrip(gap_incident(check, gapped, SOURCE, INGEST, registered_tenant_id="acme"))
    assert incident["severity"] == "low" and incident["rule_id"] == "integrity.sequence_gap"
    detail = json.loads(incident["detail"])
    assert (detail["expected_sequence"], detail["missing"]) == (2, 2)
    with pytest.raises(ValueError, match="not a gap"):
        gap_incident(tracker.check(action(sequence=5, event_id="01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5fa")),
                     gapped, SOURCE, INGEST)


def test_the_id_depends_only_on_the_input_coordinates_and_the_kind() -> None:
    one = build_incident(IncidentKind.BAD_SIGNATURE, "first run", action(), SOURCE, INGEST)
    again = build_incident(IncidentKind.BAD_SIGNATURE, "first run", action(), Source("agent.actions", 1, 42), INGEST)
    assert one == again and CODEC.encode("Incident", one) == CODEC.encode("Incident", again)  # a replay: the same bytes
    assert one["incident_id"] == str(uuid.uuid5(INCIDENT_NAMESPACE, "agent.actions\x001\x0042\x00bad_signature"))
    assert one["incident_id"] == incident_id(SOURCE, IncidentKind.BAD_SIGNATURE)
    others = {
        incident_id(Source("agent.actions", 1, 43), IncidentKind.BAD_SIGNATURE),
        incident_id(Source("agent.actions", 2, 42), IncidentKind.BAD_SIGNATURE),
        incident_id(Source("other.actions", 1, 42), IncidentKind.BAD_SIGNATURE),
        incident_id(SOURCE, IncidentKind.UNKNOWN_KEY),
    }
    assert len(others) == 4 and one["incident_id"] not in others


def test_incidents_go_to_the_registered_tenant_when_known() -> None:
    claims_other = action(tenant_id="globex")
    mismatch = rejection_incident(AttributionError("tenant_mismatch", "r", registered_tenant_id="acme"),
                                  claims_other, SOURCE, INGEST)
    assert mismatch["tenant_id"] == "acme"
    detail = json.loads(mismatch["detail"])
    assert (detail["claimed_tenant_id"], detail["registered_tenant_id"]) == ("globex", "acme")
    unknown = rejection_incident(AttributionError("unknown_agent", "r"), action("nobody", tenant_id="globex"), SOURCE, INGEST)
    assert unknown["tenant_id"] == "globex"


def test_detail_leaves_out_signatures_parameters_and_attributes() -> None:
    signed = action(parameters='{"ssn":"123-45-6789"}', attributes={"user.email": "alice@example.com"})
    detail = build_incident(IncidentKind.UNSIGNED, "r", signed, SOURCE, INGEST)["detail"]
    for secret in ("123-45-6789", "alice@example.com", signed["signature"].hex()):
        assert secret not in detail
    assert not {"signature", "parameters", "attributes"} & set(json.loads(detail))


def test_from_a_consumed_message_to_an_incident() -> None:
    """The pieces as the processor will chain them: a forged action, rejected
    by attribute(), its incident keyed by the consumed message's coordinates."""
    forged = action(signer=Ed25519Signer.generate("ed-1"))
    msg = Input("agent.actions", 0, 7, b"support-bot", CODEC.encode("AgentAction", forged), INGEST // 1000, LOG_APPEND_TIME)
    decoded = CODEC.decode("AgentAction", msg.value or b"")
    with pytest.raises(AttributionError) as caught:
        attribute(decoded, view(), msg.timestamp_ms * 1000, CachingSecretOpener(KekOpener()))
    incident = roundtrip(rejection_incident(caught.value, decoded, msg, msg.timestamp_ms * 1000))
    assert incident["severity"] == "critical" and incident["incident_id"] == incident_id(msg, IncidentKind.BAD_SIGNATURE)
