"""Pipeline keys as values, and signature checks that need nothing but public keys.

A key id is the first 16 hex characters of SHA-256 of the raw 32-byte Ed25519
public key, so anyone holding the public key can recompute it, and a public
keys file whose ids do not match its keys is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentaudit.errors import ConfigError

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
PUBLIC_KEYS_FORMAT = "agentaudit-public-keys/v1"


class KeyringError(ConfigError):
    """The keyring is missing, unreadable, or does not hold together."""


def ed25519_key_id(public_key: bytes) -> str:
    """First 16 hex characters of SHA-256(raw public key)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class PipelineKey:
    """One pipeline signing key as stored: the private half only ever sealed under the KEK.

    retired_us is when it stopped signing; it still verifies what it signed.
    """

    key_id: str
    public_key: bytes
    sealed_private_key: bytes
    created_us: int
    retired_us: int | None = None

    def __repr__(self) -> str:  # the sealed bytes are not secret, but are noise in a log
        return f"PipelineKey(key_id={self.key_id!r}, created_us={self.created_us}, retired_us={self.retired_us})"


def verify_signature(public_keys: Mapping[str, bytes], key_id: str, data: bytes, signature: bytes) -> bool:
    """Whether signature is key_id's Ed25519 signature of data. Offline: needs only public keys.

    False, never an exception, for an unknown key id, a malformed key or a bad
    signature: the caller decides how to report it.
    """
    public_key = public_keys.get(key_id)
    if public_key is None or len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_keys_document(keys: list[PipelineKey]) -> dict[str, Any]:
    """The JSON an auditor is given: every public key the pipeline ever signed with."""
    return {
        "format": PUBLIC_KEYS_FORMAT,
        "algorithm": "ed25519",
        "key_id": "first 16 hex characters of SHA-256 of the raw 32-byte public key",
        "keys": [
            {
                "key_id": key.key_id,
                "public_key": base64.b64encode(key.public_key).decode("ascii"),
                "created_us": key.created_us,
                "retired_us": key.retired_us,
            }
            for key in keys
        ],
    }


def parse_public_keys(document: Any, source: str) -> dict[str, bytes]:
    """key_id -> raw public key from a public_keys_document; checks every id against its key."""
    if not isinstance(document, dict) or document.get("format") != PUBLIC_KEYS_FORMAT:
        raise KeyringError(f"{source} is not an agentaudit public keys file ({PUBLIC_KEYS_FORMAT})")
    found: dict[str, bytes] = {}
    for entry in document.get("keys", []):
        try:
            key_id, raw = str(entry["key_id"]), base64.b64decode(entry["public_key"], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise KeyringError(f"{source}: malformed key entry ({type(exc).__name__})") from None
        if len(raw) != PUBLIC_KEY_SIZE or ed25519_key_id(raw) != key_id:
            raise KeyringError(f"{source}: key {key_id} does not match its public key")
        found[key_id] = raw
    if not found:
        raise KeyringError(f"{source} holds no keys")
    return found


def load_public_keys(path: Path) -> dict[str, bytes]:
    """Public keys from a file written by `agentaudit keys export-public`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KeyringError(f"public keys file {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyringError(f"public keys file {path} is not JSON: {exc}") from None
    return parse_public_keys(document, str(path))
