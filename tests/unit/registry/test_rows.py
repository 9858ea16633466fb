"""agent_registry rows from decoded RegistryChanges."""

from __future__ import annotations

import hashlib
import json

from agentaudit.codec import SingleObjectCodec
from agentaudit.registry.avro import SCHEMA, to_avro
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.rows import REGISTRY_COLUMNS, registry_row
from agentaudit.registry.secrets import new_hmac_key
from tests.chain_support import TestSigner
from tests.registry_support import register, rotate

codec = SingleObjectCodec()


def test_a_row_carries_the_change_its_chain_link_and_its_exact_bytes() -> None:
    signer = TestSigner()
    log = RegistryLog(signer.public_keys())
    first = log.prepare(register("billing-agent"), signer, 1_000, "c1")
    log.append(first)
    second = log.prepare(rotate("billing-agent", grace_us=60_000_000), signer, 2_000, "c2")
    value = codec.encode(SCHEMA, to_avro(second))
    row = registry_row(codec.decode(SCHEMA, value), value)
    assert tuple(row) == REGISTRY_COLUMNS
    assert (row["position"], row["kind"], row["agent_id"], row["tenant_id"], row["agent_version"], row["status"]) == (
        2, "rotate_key", "billing-agent", "acme", 2, "active")
    assert (row["valid_from"], row["actor"], row["approver"]) == (2_000, "carol", "bob")
    assert row["prev_hash"] == first.hash and row["hash"] == second.hash and row["record"] == value
    assert row["key_ids"] == [k.key_id for k in second.definition.keys] and len(row["key_ids"]) == 2
    assert row["signing_key_id"] == signer.current_key_id and len(row["signature"]) == 64


def test_the_row_alone_reproduces_the_entry_hash() -> None:
    """definition is the JSON the hash covers: an auditor can check a row without the Avro bytes."""
    signer = TestSigner()
    change = RegistryLog(signer.public_keys()).prepare(register("a"), signer, 5, "c1")
    value = codec.encode(SCHEMA, to_avro(change))
    row = registry_row(codec.decode(SCHEMA, value), value)
    document = {
        "format": "agentaudit/registry/v1", "change_id": row["change_id"], "position": row["position"],
        "kind": row["kind"], "agent": json.loads(row["definition"]), "actor": row["actor"],
        "approver": row["approver"], "reason": row["reason"], "valid_from_us": row["valid_from"],
        "prev_hash": row["prev_hash"].hex(),
    }
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert hashlib.sha256(row["prev_hash"] + canonical).digest() == row["hash"]


def test_an_hmac_secret_reaches_the_row_only_sealed() -> None:
    signer = TestSigner()
    key, secret = new_hmac_key(bytes(range(32)), "fast-agent")
    change = RegistryLog(signer.public_keys()).prepare(register("fast-agent", key=key), signer, 5, "c1")
    value = codec.encode(SCHEMA, to_avro(change))
    row = registry_row(codec.decode(SCHEMA, value), value)
    assert secret.hex() not in row["definition"] and secret not in row["record"]
