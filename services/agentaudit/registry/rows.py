"""A decoded RegistryChange as an agent_registry row (schemas/clickhouse/0003). Pure, no I/O.

Values keep one Python type per column, as the sink's other rows do: text as
str, bytes columns as bytes, DateTime64(6) as integers of microseconds.
"""

from __future__ import annotations

import json
from typing import Any

from agentaudit.registry.avro import from_avro
from agentaudit.registry.canonical import definition_document

REGISTRY_TABLE = "agent_registry"

REGISTRY_COLUMNS: tuple[str, ...] = (
    "position", "change_id", "kind", "agent_id", "tenant_id", "agent_version", "status", "valid_from",
    "actor", "approver", "reason", "definition", "key_ids", "prev_hash", "hash", "signing_key_id", "signature",
    "source_partition", "record",
)  # fmt: skip


def registry_row(change: dict[str, Any], value: bytes) -> dict[str, Any]:
    """agent_registry row, column -> value in REGISTRY_COLUMNS order, for a decoded RegistryChange.

    value is the message's Avro bytes exactly as consumed. The definition
    column is the same JSON the entry's hash covers (agentaudit.registry.canonical),
    so a row can be checked against its hash without the Avro bytes.
    Raises KeyError/ValueError for a datum that is not a RegistryChange.
    """
    entry = from_avro(change)
    definition = entry.definition
    return {
        "position": entry.position,
        "change_id": entry.change_id,
        "kind": entry.kind.value,
        "agent_id": definition.agent_id,
        "tenant_id": definition.tenant_id,
        "agent_version": definition.version,
        "status": definition.status.value,
        "valid_from": entry.valid_from_us,
        "actor": entry.actor,
        "approver": entry.approver,
        "reason": entry.reason,
        "definition": json.dumps(definition_document(definition), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False),
        "key_ids": [key.key_id for key in definition.keys],
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
        "signing_key_id": entry.signing_key_id,
        "signature": entry.signature,
        "source_partition": 0,  # agent.registry has one partition (topics.py)
        "record": value,
    }
