"""Decoded AuditRecords and Rejections as ClickHouse rows. Pure functions, no I/O.

The column order of each table is defined here once (RECORD_COLUMNS,
REJECTION_COLUMNS) and must match schemas/clickhouse; an integration test
compares them. Columns with a server default that the sink never sets
(stored_at) are left out.

Values keep one Python type per column, as clickhouse-connect requires: text
columns always str, byte columns (record, original, key, signature, hashes)
always bytes, timestamps always integers of microseconds (DateTime64(6) ticks,
so no time-zone conversion can slip in).
"""

from __future__ import annotations

import hashlib
from typing import Any

from agentaudit.chain.forms import avro_bytes
from agentaudit.chain.seal import seal_hash_of
from agentaudit.codec.base import body_offset
from agentaudit.registry.rows import REGISTRY_COLUMNS, REGISTRY_TABLE, registry_row

RECORDS_TABLE = "audit_records"
REJECTIONS_TABLE = "audit_rejections"
SEALS_TABLE = "audit_seals"
INCIDENTS_TABLE = "audit_incidents"
ALERTS_TABLE = "alert_deliveries"
SINK_DECODE = "sink_decode"

Row = tuple[Any, ...]

RECORD_COLUMNS: tuple[str, ...] = (
    "event_id", "agent_id", "session_id", "sequence", "tenant_id",
    "principal_type", "principal_id", "action_type", "tool", "resource", "parameters",
    "outcome", "error_code", "error_message",
    "policy_decision", "policy_id", "policy_version", "policy_reason",
    "approver_type", "approver_id", "approval_decision", "approval_decided_at", "approval_id",
    "model_provider", "model_name", "model_version",
    "input_tokens", "output_tokens", "cost_micros", "currency",
    "agent_time", "correlation_id", "parent_event_id", "attributes", "key_id", "signature",
    "ingest_time", "source_topic", "source_partition", "source_offset", "clock_skew_ms",
    "chain_position", "chain_prev_hash", "chain_hash", "risk_score", "rule_hits",
    "record", "subject_ids",
)  # fmt: skip

REJECTION_COLUMNS: tuple[str, ...] = (
    "reason_code", "reason", "source_topic", "source_partition", "source_offset",
    "ingest_time", "key", "original", "agent_id", "tenant_id", "event_id", "record",
)  # fmt: skip

SEAL_COLUMNS: tuple[str, ...] = (
    "agent_id", "tenant_id", "seq", "reason", "first_position", "last_position",
    "head_hash", "merkle_root", "from_time", "until_time", "prev_seal_hash", "seal_hash",
    "source_topic", "source_partition", "source_offset", "key_id", "signature", "seal",
)  # fmt: skip

INCIDENT_COLUMNS: tuple[str, ...] = (
    "incident_id", "entry_id", "version", "change", "status", "tenant_id", "agent_id", "rule_id", "severity",
    "title", "first_seen", "last_seen", "changed_at", "hit_count", "event_ids", "actor", "owner", "note",
    "risk_score", "contain", "detail", "kafka_topic", "kafka_partition", "kafka_offset", "entry",
)  # fmt: skip

ALERT_COLUMNS: tuple[str, ...] = (
    "incident_id", "version", "change", "tenant_id", "severity", "route", "kind", "dedup_key", "attempt", "status",
    "http_status", "error", "retry_in_ms", "at", "latency_ms", "source_topic", "source_partition", "source_offset",
    "kafka_topic", "kafka_partition", "kafka_offset",
)  # fmt: skip

COLUMNS: dict[str, tuple[str, ...]] = {
    RECORDS_TABLE: RECORD_COLUMNS, REJECTIONS_TABLE: REJECTION_COLUMNS, SEALS_TABLE: SEAL_COLUMNS,
    REGISTRY_TABLE: REGISTRY_COLUMNS, INCIDENTS_TABLE: INCIDENT_COLUMNS, ALERTS_TABLE: ALERT_COLUMNS,
}

# Positions the sink reads back from a row: the time that picks the month
# (insert segment, lag metric) and the replay de-duplication key. Records and
# rejections are de-duplicated by their source coordinates; seals by (agent,
# its partition, seq), because one input (a clock tick) can seal many agents.
INGEST_TIME = {
    RECORDS_TABLE: RECORD_COLUMNS.index("ingest_time"),
    REJECTIONS_TABLE: REJECTION_COLUMNS.index("ingest_time"),
    SEALS_TABLE: SEAL_COLUMNS.index("until_time"),
    REGISTRY_TABLE: REGISTRY_COLUMNS.index("valid_from"),
    INCIDENTS_TABLE: INCIDENT_COLUMNS.index("changed_at"),
    ALERTS_TABLE: ALERT_COLUMNS.index("at"),
}
DEDUP_KEY_SQL = {
    RECORDS_TABLE: ("source_topic", "source_partition", "source_offset"),
    REJECTIONS_TABLE: ("source_topic", "source_partition", "source_offset"),
    SEALS_TABLE: ("agent_id", "source_partition", "seq"),
    # registry positions grow across the whole registry, so also per agent
    REGISTRY_TABLE: ("agent_id", "source_partition", "position"),
    # Incident entries by where the sink read them: that drops the sink's own
    # replays; a processor replay's identical entries share an entry_id instead.
    INCIDENTS_TABLE: ("kafka_topic", "kafka_partition", "kafka_offset"),
    # Many deliveries share one incident entry as their source: by their own position too.
    ALERTS_TABLE: ("kafka_topic", "kafka_partition", "kafka_offset"),
}
SOURCE = {t: tuple(COLUMNS[t].index(c) for c in cols) for t, cols in DEDUP_KEY_SQL.items()}


_EMPTY: dict[str, Any] = {}


def _text(value: str | None) -> str:
    return "" if value is None else value


def record_row(record: dict[str, Any], raw: bytes) -> Row:
    """audit_records row for a decoded AuditRecord; raw is its Avro bytes as consumed."""
    # Hot path (once per stored action): plain indexing and `or` defaults
    # rather than helper calls; optional parts default to one shared empty dict.
    a = record["action"]
    principal = a["principal"]
    error = a["error"] or _EMPTY
    policy = a["policy"] or _EMPTY
    approval = a["approval"] or _EMPTY
    approver = approval.get("approver") or _EMPTY
    model = a["model"] or _EMPTY
    usage = a["usage"] or _EMPTY
    source = record["source"]
    chain = record["chain"] or _EMPTY
    redaction = record.get("redaction")  # absent from records written before AuditRecord v3
    subject = redaction["subject_ref"] if redaction else None
    return (
        a["event_id"],
        a["agent_id"],
        a["session_id"],
        a["sequence"],
        a["tenant_id"],
        principal["type"],
        principal["id"],
        a["action_type"],
        a["tool"] or "",
        a["resource"] or "",
        a["parameters"] or "",
        a["outcome"],
        error.get("code") or "",
        error.get("message") or "",
        policy.get("decision") or "",
        policy.get("policy_id") or "",
        policy.get("policy_version") or "",
        policy.get("reason") or "",
        approver.get("type") or "",
        approver.get("id") or "",
        approval.get("decision") or "",
        approval.get("decided_at"),
        approval.get("approval_id") or "",
        model.get("provider") or "",
        model.get("name") or "",
        model.get("version") or "",
        usage.get("input_tokens", 0),
        usage.get("output_tokens", 0),
        usage.get("cost_micros", 0),
        usage.get("currency") or "",
        a["agent_time"],
        a["correlation_id"] or "",
        a["parent_event_id"] or "",
        a["attributes"] or {},
        a["key_id"] or "",
        a["signature"] or b"",
        record["ingest_time"],
        source["topic"],
        source["partition"],
        source["offset"],
        record["clock_skew_ms"],
        chain.get("position", 0),
        chain.get("prev_hash", b""),
        chain.get("hash", b""),
        record["risk_score"],
        [(h["rule_id"], h["severity"], h["reason"]) for h in record["rule_hits"]] if record["rule_hits"] else [],
        raw,
        [subject] if subject else [],
    )


def seal_row(seal: dict[str, Any], raw: bytes) -> Row:
    """audit_seals row for a decoded Seal; raw is its Avro bytes as consumed."""
    source = seal["source"]
    tail = avro_bytes(seal["key_id"].encode("utf-8")) + avro_bytes(seal["signature"])
    content = raw[body_offset(raw): len(raw) - len(tail)]
    return (
        seal["agent_id"], seal["tenant_id"], seal["seq"], seal["reason"],
        seal["first_position"], seal["last_position"], seal["head_hash"], seal["merkle_root"],
        seal["from_time"], seal["until_time"], seal["prev_seal_hash"],
        seal_hash_of(content),
        source["topic"], source["partition"], source["offset"],
        seal["key_id"], seal["signature"], raw,
    )  # fmt: skip


def registry_change_row(change: dict[str, Any], raw: bytes) -> Row:
    """agent_registry row for a decoded RegistryChange; raw is its Avro bytes as consumed."""
    values = registry_row(change, raw)
    return tuple(values[c] for c in REGISTRY_COLUMNS)


def incident_row(incident: dict[str, Any], raw: bytes, topic: str, partition: int, offset: int) -> Row:
    """audit_incidents row for a decoded Incident entry read at topic[partition]@offset."""
    # Version 1 entries carry no changed_at: the time of their hit stands in.
    changed_at = incident["changed_at"] or incident["last_seen"]
    return (
        incident["incident_id"], hashlib.sha256(raw[body_offset(raw):]).digest(), incident["version"],
        incident["change"], incident["status"], incident["tenant_id"], incident["agent_id"], incident["rule_id"],
        incident["severity"], incident["title"], incident["first_seen"], incident["last_seen"], changed_at,
        incident["hit_count"], list(incident["event_ids"]), _text(incident["actor"]), _text(incident["owner"]),
        _text(incident["note"]), max(0, min(100, incident["risk_score"])), incident["contain"],
        _text(incident["detail"]), topic, partition, offset, raw,
    )  # fmt: skip


def alert_row(delivery: dict[str, Any], topic: str, partition: int, offset: int) -> Row:
    """alert_deliveries row for a decoded AlertDelivery read at topic[partition]@offset."""
    d, source = delivery, delivery["source"]
    return (
        d["incident_id"], d["version"], d["change"], d["tenant_id"], d["severity"], d["route"], d["kind"],
        d["dedup_key"], d["attempt"], d["status"], d["http_status"], _text(d["error"]), d["retry_in_ms"], d["at"],
        d["latency_ms"], source["topic"], source["partition"], source["offset"], topic, partition, offset,
    )  # fmt: skip


def rejection_row(rejection: dict[str, Any], raw: bytes) -> Row:
    """audit_rejections row for a decoded Rejection; raw is its Avro bytes as consumed."""
    source = rejection["source"]
    return (
        rejection["reason_code"],
        rejection["reason"],
        source["topic"],
        source["partition"],
        source["offset"],
        rejection["ingest_time"],
        rejection.get("key"),
        rejection["original"],
        _text(rejection.get("agent_id")),
        _text(rejection.get("tenant_id")),
        _text(rejection.get("event_id")),
        raw,
    )


def undecodable_row(
    topic: str,
    partition: int,
    offset: int,
    timestamp_us: int,
    key: bytes | None,
    value: bytes | None,
    reason: str,
) -> Row:
    """audit_rejections row for a message the sink itself could not decode.

    Its source is the message's own place on audit.records or audit.rejected
    (the input it came from is unknowable), its ingest time the broker
    timestamp of that message, and `original` its bytes, so nothing is lost.
    """
    return (
        SINK_DECODE,
        reason,
        topic,
        partition,
        offset,
        timestamp_us,
        key,
        value or b"",
        # The processor keys every output by agent id, so the key still names the agent.
        key.decode("utf-8", errors="replace") if key else "",
        "",
        "",
        b"",
    )
