"""Test vectors for the canonical form and signatures: schemas/signing-vectors.json.

    python -m agentaudit.signing.vectors          # rewrite the file
    python -m agentaudit.signing.vectors --check  # exit 1 if it differs from what the code computes

Everything here is fixed (keys, actions), and Ed25519 and HMAC are
deterministic, so the file is reproducible byte for byte; a test runs the
check. The Ed25519 key is RFC 8032's TEST 1 key, so an implementer can first
check their Ed25519 library against the RFC, then their canonical form here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agentaudit.codec.schemas import schema_dir
from agentaudit.registry.model import KeyAlgorithm
from agentaudit.signing.canonical import CANONICAL_SCHEMA_FINGERPRINT, DOMAIN_TAG, canonical_bytes
from agentaudit.signing.signers import Ed25519Signer, HmacSigner, Signer, sign_action

ED25519_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8032 TEST 1
HMAC_SECRET = bytes(range(32))
ED25519_KEY_ID = "ed-2026-01"
HMAC_KEY_ID = "hmac-2026-01"

_MINIMAL: dict[str, Any] = {
    "event_id": "01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f6",
    "agent_id": "support-bot",
    "session_id": "01934b6e-0000-7000-8000-000000000001",
    "sequence": 1,
    "tenant_id": "acme",
    "principal": {"type": "user", "id": "alice"},
    "action_type": "llm_call",
    "outcome": "success",
    "agent_time": 1_764_000_000_000_000,
}

_FULL: dict[str, Any] = {
    "event_id": "01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f7",
    "agent_id": "billing-agent-2",
    "session_id": "séance-42",
    "sequence": 1 << 40,
    "tenant_id": "acme-eu",
    "principal": {"type": "service", "id": "nightly-job"},
    "action_type": "data_write",
    "tool": "ledger.post",
    "resource": "db://ledger/entries",
    "parameters": '{"amount":1250,"memo":"café ☕"}',
    "outcome": "denied",
    "error": {"code": "E_POLICY", "message": "refused by policy"},
    "policy": {"decision": "require_approval", "policy_id": "pol-7", "policy_version": "2026-11-01", "reason": None},
    "approval": {
        "approver": {"type": "user", "id": "bob"},
        "decision": "rejected",
        "decided_at": 1_764_000_000_123_456,
        "approval_id": "apr-9",
    },
    "model": {"provider": "anthropic", "name": "claude-sonnet-4", "version": None},
    # A negative value exercises the zigzag encoding.
    "usage": {"input_tokens": 1200, "output_tokens": 0, "cost_micros": -1500, "currency": "EUR"},
    "agent_time": 1_764_000_000_200_000,
    "correlation_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "parent_event_id": "01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f6",
    # Deliberately unsorted. U+FF5E and U+1F600 sort one way by UTF-8 bytes
    # and the other way by UTF-16 code units (Java and JavaScript string
    # order), which is the trap this vector is here to catch; "Z" < "a" < "é".
    "attributes": {
        "\U0001f600": "grin",
        "gen_ai.request.model": "claude-sonnet-4",
        "\uff5e": "tilde",
        "é": "e-acute",
        "a": "",
        "Z": "upper",
    },
}

_HMAC: dict[str, Any] = {
    **_MINIMAL,
    "event_id": "01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f8",
    "sequence": 2,
    "action_type": "tool_call",
    "tool": "crm.lookup",
    "resource": "crm://customers/42",
    "parameters": '{"customer":42}',
    "attributes": {"gen_ai.tool.name": "crm.lookup"},
}

_CASES: tuple[tuple[str, str, dict[str, Any], KeyAlgorithm], ...] = (
    ("minimal", "Required fields only; every optional field takes its default (null, empty map).", _MINIMAL, KeyAlgorithm.ED25519),
    ("full", "Every field set: nested records, non-ASCII text, a 2^40 sequence, a negative long, unsorted attributes.", _FULL, KeyAlgorithm.ED25519),
    ("hmac", "A tool call signed with an HMAC-SHA256 key.", _HMAC, KeyAlgorithm.HMAC_SHA256),
)


def build() -> dict[str, Any]:
    """The vectors document, as the code computes it."""
    ed25519 = Ed25519Signer.from_private_bytes(ED25519_KEY_ID, ED25519_SEED)
    by_algorithm: dict[KeyAlgorithm, Signer] = {
        KeyAlgorithm.ED25519: ed25519,
        KeyAlgorithm.HMAC_SHA256: HmacSigner(HMAC_KEY_ID, HMAC_SECRET),
    }
    vectors = []
    for name, description, action, algorithm in _CASES:
        signer = by_algorithm[algorithm]
        signed = sign_action(action, signer)
        unsigned = {**action, "key_id": signer.key_id, "signature": None}
        vectors.append(
            {
                "name": name,
                "description": description,
                "action": unsigned,
                "canonical_hex": canonical_bytes(signed).hex(),
                "algorithm": str(algorithm),
                "key_id": signer.key_id,
                "signature_hex": signed["signature"].hex(),
            }
        )
    return {
        "description": "Test vectors for schemas/signing.md. Each action is given as plain JSON (a union value bare, "
        "not Avro-JSON wrapped; absent fields take their schema default), with key_id set and signature null, "
        "as signed. canonical_hex is the exact byte string signed.",
        "domain_tag_hex": DOMAIN_TAG.hex(),
        "schema": "io.agentaudit.AgentAction v1",
        "schema_fingerprint_crc64_avro_le": CANONICAL_SCHEMA_FINGERPRINT,
        "keys": {
            ED25519_KEY_ID: {
                "algorithm": str(KeyAlgorithm.ED25519),
                "private_seed_hex": ED25519_SEED.hex(),
                "public_key_hex": ed25519.public_key_bytes().hex(),
                "note": "RFC 8032 section 7.1 TEST 1 key; a test key, never use it for anything else",
            },
            HMAC_KEY_ID: {
                "algorithm": str(KeyAlgorithm.HMAC_SHA256),
                "secret_hex": HMAC_SECRET.hex(),
                "note": "bytes 0x00..0x1f; a test key, never use it for anything else",
            },
        },
        "vectors": vectors,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=True) + "\n"


def vectors_path() -> Path:
    return schema_dir().parent / "signing-vectors.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what the code computes")
    args = parser.parse_args(argv)
    path = vectors_path()
    wanted = render()
    if args.check:
        if not path.exists() or path.read_text(encoding="utf-8") != wanted:
            print(f"{path} differs from the canonical form the code computes", file=sys.stderr)
            return 1
        return 0
    path.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
