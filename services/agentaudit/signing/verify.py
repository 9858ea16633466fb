"""Checks a signature over canonical action bytes. No I/O, no clock.

Ed25519 verification is the processor's dominant cost per action (see
tests/perf/signature_bench.py). Parsed public keys are cached by their raw
bytes, so each registered key is parsed once, not once per action; keying by
the bytes (not the key id) makes a stale entry impossible.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agentaudit.registry.model import KeyAlgorithm

ED25519_PUBLIC_KEY_BYTES = 32
ED25519_SIGNATURE_BYTES = 64
HMAC_SHA256_BYTES = 32

# Enough for every key of every agent a processor serves; an evicted key is
# parsed again (a few microseconds), never wrong.
_PUBLIC_KEY_CACHE_SIZE = 4096


@lru_cache(maxsize=_PUBLIC_KEY_CACHE_SIZE)
def ed25519_public_key(material: bytes) -> Ed25519PublicKey:
    """The parsed public key for 32 raw bytes; ValueError if they are not one."""
    if len(material) != ED25519_PUBLIC_KEY_BYTES:
        raise ValueError(f"an Ed25519 public key is {ED25519_PUBLIC_KEY_BYTES} raw bytes, got {len(material)}")
    return Ed25519PublicKey.from_public_bytes(material)


def verify(algorithm: KeyAlgorithm, key_material: bytes, data: bytes, signature: bytes) -> bool:
    """True if signature is valid for data under the key.

    key_material is the raw 32-byte Ed25519 public key, or the plaintext
    HMAC-SHA256 secret (unsealed; never the sealed form). A signature of the
    wrong length is simply invalid (it came with the input); unusable key
    material raises ValueError, because that is the registry's fault, not the
    input's, and must not pass for a bad signature.
    """
    if algorithm is KeyAlgorithm.ED25519:
        public_key = ed25519_public_key(bytes(key_material))
        if len(signature) != ED25519_SIGNATURE_BYTES:
            return False
        try:
            public_key.verify(signature, data)
        except InvalidSignature:
            return False
        return True
    if algorithm is KeyAlgorithm.HMAC_SHA256:
        if not key_material:
            raise ValueError("an HMAC-SHA256 secret cannot be empty")
        # compare_digest: the time taken must not tell a forger how many leading bytes matched.
        return hmac.compare_digest(hmac.digest(key_material, data, hashlib.sha256), signature)
    raise ValueError(f"unsupported key algorithm {algorithm!r}")
