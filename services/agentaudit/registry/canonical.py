"""The registry chain: canonical bytes of an entry, its hash, and what the keyring signs. No I/O.

    genesis   = SHA-256(b"agentaudit/registry/v1/genesis")
    hash      = SHA-256(prev_hash || canonical_bytes(entry))
    signature = Ed25519(pipeline key, SIGNATURE_DOMAIN || hash)

canonical_bytes is JSON with sorted keys, no whitespace, UTF-8 (RFC 8785 for
the value types used here: strings, integers, null, arrays, objects), of
every field of the entry except hash, signing_key_id and signature; byte
fields as lowercase hex, times as integers of microseconds. Being computed
from the fields rather than from the Avro bytes, it is the same whichever
encoding carried the entry, and an auditor can recompute it in any language.

The signed message carries a domain tag, because the same keyring signs
seals too: a signature over a registry hash can never be presented as one
over anything else. prev_hash is always 32 bytes, so prev_hash || canonical
is unambiguous.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from agentaudit.registry.change import RegistryChange
from agentaudit.registry.model import AgentDefinition

FORMAT = "agentaudit/registry/v1"
GENESIS = hashlib.sha256(b"agentaudit/registry/v1/genesis").digest()
SIGNATURE_DOMAIN = b"agentaudit/registry/v1/signature"
HASH_SIZE = 32


def definition_document(definition: AgentDefinition) -> dict[str, Any]:
    """The definition as plain JSON values (bytes as hex); also what ClickHouse stores."""
    return {
        "agent_id": definition.agent_id,
        "name": definition.name,
        "owner": definition.owner,
        "environment": definition.environment,
        "tenant_id": definition.tenant_id,
        "principals": list(definition.principals),
        "scope": {
            "action_types": list(definition.scope.action_types),
            "tools": list(definition.scope.tools),
            "resource_patterns": list(definition.scope.resource_patterns),
            "data_classes": list(definition.scope.data_classes),
        },
        "keys": [
            {
                "key_id": key.key_id,
                "algorithm": key.algorithm.value,
                "material": key.material.hex(),
                "valid_from_us": key.valid_from_us,
                "valid_until_us": key.valid_until_us,
            }
            for key in definition.keys
        ],
        "status": definition.status.value,
        "version": definition.version,
        "valid_from_us": definition.valid_from_us,
    }


def canonical_bytes(change: RegistryChange) -> bytes:
    document = {
        "format": FORMAT,
        "change_id": change.change_id,
        "position": change.position,
        "kind": change.kind.value,
        "agent": definition_document(change.definition),
        "actor": change.actor,
        "approver": change.approver,
        "reason": change.reason,
        "valid_from_us": change.valid_from_us,
        "prev_hash": change.prev_hash.hex(),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(change: RegistryChange) -> bytes:
    if len(change.prev_hash) != HASH_SIZE:
        raise ValueError(f"prev_hash must be {HASH_SIZE} bytes, got {len(change.prev_hash)}")
    return hashlib.sha256(change.prev_hash + canonical_bytes(change)).digest()


def signed_message(entry_hash_: bytes) -> bytes:
    """What the pipeline key signs for an entry whose hash is entry_hash_."""
    return SIGNATURE_DOMAIN + entry_hash_
