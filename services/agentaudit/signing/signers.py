"""What an agent runtime signs its actions with: an Ed25519 private key or an
HMAC-SHA256 secret, named by the key id the agent registry knows it by.

Secrets never appear in a repr, a log line or an exception message: a signer
shows its key id and algorithm only.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentaudit.registry.model import KeyAlgorithm
from agentaudit.signing.canonical import canonical_bytes

HMAC_MIN_SECRET_BYTES = 32
"""HMAC-SHA256 secrets are at least as long as the hash (RFC 2104, section 3)."""


@runtime_checkable
class Signer(Protocol):
    """Signs canonical action bytes with one registered agent key."""

    @property
    def key_id(self) -> str: ...

    @property
    def algorithm(self) -> KeyAlgorithm: ...

    def sign(self, data: bytes) -> bytes: ...


class Ed25519Signer:
    """Ed25519 (RFC 8032, pure, no context) with the agent's private key.

    The registry holds the matching public key (`public_key_bytes()`, 32 raw
    bytes). Signatures are deterministic: the same key and bytes always give
    the same 64-byte signature.
    """

    algorithm = KeyAlgorithm.ED25519

    def __init__(self, key_id: str, private_key: Ed25519PrivateKey) -> None:
        if not key_id:
            raise ValueError("key_id is required")
        self._key_id = key_id
        self._private = private_key

    @property
    def key_id(self) -> str:
        return self._key_id

    @classmethod
    def from_private_bytes(cls, key_id: str, seed: bytes) -> Ed25519Signer:
        """From the 32-byte raw private key (the RFC 8032 seed)."""
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 private key is 32 raw bytes, got {len(seed)}")
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, key_id: str, path: str | Path, password: bytes | None = None) -> Ed25519Signer:
        """From a PKCS#8 PEM file (`openssl genpkey -algorithm ed25519`)."""
        data = Path(path).read_bytes()
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError) as exc:
            # The library's message names the problem (wrong password, not PEM); never the bytes.
            raise ValueError(f"{path}: not a usable PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: holds a {type(key).__name__}, not an Ed25519 private key")
        return cls(key_id, key)

    @classmethod
    def generate(cls, key_id: str) -> Ed25519Signer:
        """A new random key (tests, and provisioning a new agent key)."""
        return cls(key_id, Ed25519PrivateKey.generate())

    def public_key_bytes(self) -> bytes:
        """The 32-byte raw public key to register for this key id."""
        return self._private.public_key().public_bytes_raw()

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self._key_id!r})"


class HmacSigner:
    """HMAC-SHA256 with a secret shared with the registry (sealed there).

    For very high-volume agents: about 40x cheaper to verify than Ed25519, at
    the price of a secret the pipeline also holds (so an HMAC signature proves
    the action came from the agent *or the pipeline*; Ed25519 proves the agent).
    """

    algorithm = KeyAlgorithm.HMAC_SHA256

    def __init__(self, key_id: str, secret: bytes) -> None:
        if not key_id:
            raise ValueError("key_id is required")
        if len(secret) < HMAC_MIN_SECRET_BYTES:
            raise ValueError(f"an HMAC-SHA256 secret must be at least {HMAC_MIN_SECRET_BYTES} bytes, got {len(secret)}")
        self._key_id = key_id
        self._secret = bytes(secret)

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        return hmac.digest(self._secret, data, hashlib.sha256)

    def __repr__(self) -> str:
        return f"HmacSigner(key_id={self._key_id!r})"


def sign_action(action: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A copy of action with key_id set to the signer's and signature over its canonical form.

    Any key_id or signature already in the action is replaced: the signature
    must name the key that made it.
    """
    signed = dict(action)
    signed["key_id"] = signer.key_id
    signed["signature"] = signer.sign(canonical_bytes(signed))
    return signed
