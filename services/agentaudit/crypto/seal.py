"""AES-256-GCM sealing of secrets under the KEK, bound to what they protect.

    sealed = version (1 byte, 0x01) || kek_id (8 bytes) || nonce (12 bytes) || ciphertext || tag (16 bytes)

The additional authenticated data (AAD) is the header (version and kek_id),
a domain tag, and the context parts, each length-prefixed so that no two
different contexts give the same bytes. The context names what the secret
belongs to (e.g. ("hmac", agent_id, key_id)): a sealed secret copied into
another agent's entry, or another key's, does not open there.

Nonces are random (96 bits): with at most a few thousand secrets sealed under
one KEK, the chance of a repeated nonce is negligible.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agentaudit.crypto.kek import KEK_SIZE, kek_id
from agentaudit.errors import AgentAuditError

VERSION = 1
_DOMAIN = b"agentaudit/seal/v1"
_NONCE = 12
_TAG = 16
_HEADER = 1 + 8
OVERHEAD = _HEADER + _NONCE + _TAG  # bytes a sealed value adds to its secret


class SealError(AgentAuditError):
    """A sealed secret does not open: wrong KEK, altered bytes, or the wrong context."""


def _aad(header: bytes, context: tuple[str, ...]) -> bytes:
    parts = [header, _DOMAIN]
    for part in context:
        data = part.encode("utf-8")
        parts.append(len(data).to_bytes(4, "big") + data)
    return b"".join(parts)


def _check_kek(kek: bytes) -> None:
    if len(kek) != KEK_SIZE:
        raise ValueError(f"the KEK must be {KEK_SIZE} bytes")


def seal(kek: bytes, secret: bytes, *context: str) -> bytes:
    """secret encrypted and authenticated under kek, bound to context."""
    _check_kek(kek)
    if not context:
        raise ValueError("a sealed secret must be bound to a context (what it belongs to)")
    header = bytes([VERSION]) + kek_id(kek)
    nonce = os.urandom(_NONCE)
    return header + nonce + AESGCM(kek).encrypt(nonce, secret, _aad(header, context))


def unseal(kek: bytes, sealed: bytes, *context: str) -> bytes:
    """The secret sealed for exactly this context under this kek; SealError otherwise.

    Messages name the context (ids, never secrets) and the reason.
    """
    _check_kek(kek)
    where = "/".join(context)
    if len(sealed) < _HEADER + _NONCE + _TAG:
        raise SealError(f"sealed secret for {where} is truncated ({len(sealed)} bytes)")
    if sealed[0] != VERSION:
        raise SealError(f"sealed secret for {where} has format version {sealed[0]}; this agentaudit reads {VERSION}")
    header = sealed[:_HEADER]
    if header[1:] != kek_id(kek):
        raise SealError(
            f"secret for {where} was sealed under another key-encryption key (id {header[1:].hex()}); "
            f"the configured KEK has id {kek_id(kek).hex()}"
        )
    nonce = sealed[_HEADER:_HEADER + _NONCE]
    try:
        return AESGCM(kek).decrypt(nonce, sealed[_HEADER + _NONCE:], _aad(header, context))
    except InvalidTag:
        raise SealError(
            f"sealed secret for {where} does not open: it was altered, or it was sealed for another agent or key"
        ) from None
