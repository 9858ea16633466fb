"""The readable fields written beside each stored value in a bundle or proof. Pure.

The base64 `value` is the evidence; the other fields are for people reading
the file. The verifier decodes every value again and compares, so a
readable field that says something its bytes do not is a finding.

A record line's agent_id, position, prev_hash and hash play the part of the
ClickHouse columns `verify` reads beside the stored bytes (the exporter takes
them from those columns), so a bundle check is the same check: the link inside
the bytes must agree with them. Its other fields are decoded from the bytes.
"""

from __future__ import annotations

from typing import Any

from agentaudit.evidence.formats import iso_us

RECORD_DECODED = ("event_id", "tenant_id", "principal", "action_type", "outcome", "ingest_time")
"""Record fields decoded from the value (the rest of a line mirrors the chain columns)."""


def record_decoded_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The readable fields of a decoded AuditRecord (RECORD_DECODED, in that order)."""
    action = record["action"]
    principal = action["principal"]
    return {
        "event_id": action["event_id"],
        "tenant_id": action["tenant_id"],
        "principal": {"type": principal["type"], "id": principal["id"]},
        "action_type": action["action_type"],
        "outcome": action["outcome"],
        "ingest_time": iso_us(record["ingest_time"]),
    }


def record_chain_fields(record: dict[str, Any]) -> dict[str, Any]:
    """agent_id, position, prev_hash, hash as the record's own bytes state them."""
    chain = record["chain"] or {}
    return {
        "agent_id": record["action"]["agent_id"],
        "position": chain.get("position"),
        "prev_hash": chain["prev_hash"].hex() if chain else None,
        "hash": chain["hash"].hex() if chain else None,
    }


SEAL_FIELDS = (
    "agent_id", "tenant_id", "seq", "reason", "first_position", "last_position", "from_time", "until_time",
    "head_hash", "merkle_root", "prev_seal_hash", "key_id",
)  # fmt: skip


def seal_fields(seal: dict[str, Any], seal_hash: bytes) -> dict[str, Any]:
    """The readable fields of a decoded Seal, with its seal_hash (computed, not stored in the value)."""
    return {
        "agent_id": seal["agent_id"],
        "tenant_id": seal["tenant_id"],
        "seq": seal["seq"],
        "reason": seal["reason"],
        "first_position": seal["first_position"],
        "last_position": seal["last_position"],
        "from_time": iso_us(seal["from_time"]),
        "until_time": iso_us(seal["until_time"]),
        "head_hash": seal["head_hash"].hex(),
        "merkle_root": seal["merkle_root"].hex(),
        "prev_seal_hash": seal["prev_seal_hash"].hex(),
        "key_id": seal["key_id"],
        "seal_hash": seal_hash.hex(),
    }


def differing(line: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """Names of the fields whose value in line is not the expected one, in expected's order."""
    return [name for name, value in expected.items() if line.get(name) != value]
