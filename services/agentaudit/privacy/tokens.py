"""What a redacted value looks like: keyed hashes, masks and deterministic encryption.

- hash: "hmac:" + the first 128 bits (hex) of HMAC-SHA256(pepper, value). The
  pepper is per tenant and derived from the KEK, so the same email hashes
  alike across records and fields of one tenant (joins work), differently
  across tenants, and nobody without the KEK can test guesses (a plain
  SHA-256 of an email falls to a dictionary of emails in seconds).
- mask: "***" + the value's last N characters (N from the policy, 0 for a
  fixed mask); a value of 2N characters or fewer is masked whole, since
  keeping half of it is not masking.
- encrypt: "enc:v1:" + key id + ":" + base64url(nonce || ciphertext || tag),
  AES-256-GCM-SIV (RFC 8452) under the data subject's key.

Why the encryption is deterministic: the chain hash covers the stored
ciphertext, so replaying an input after a crash must produce the same bytes
(invariant 4), which rules out random nonces. The nonce is synthetic, an
HMAC of the value and its place (tenant, event id, path) under a key derived
from the subject key: the same input always gives the same nonce, different
inputs practically never do. GCM-SIV rather than GCM because event ids come
from agents: should two different values ever get the same nonce (a
colliding or forged event id), GCM would leak their XOR and its
authentication key, GCM-SIV only that the two were equal. The place is also
the additional authenticated data, so a ciphertext copied into another
record or field does not decrypt there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from agentaudit.errors import AgentAuditError

HASH_PREFIX = "hmac:"
ENC_PREFIX = "enc:v1:"
MASK = "***"
DEK_SIZE = 32
_NONCE = 12
_PEPPER = b"agentaudit/privacy/pepper/v1\x00"
_ENC = b"agentaudit/privacy/encryption-key/v1"
_NONCE_KEY = b"agentaudit/privacy/nonce-key/v1"


class TokenError(AgentAuditError):
    """An encrypted value does not decrypt: another key, another place, or altered."""


def pepper(kek: bytes, tenant_id: str) -> bytes:
    """The tenant's pepper for keyed hashes: derived from the KEK, so nothing more to keep secret."""
    return hmac.new(kek, _PEPPER + tenant_id.encode("utf-8"), hashlib.sha256).digest()


class Peppers:
    """Each tenant's pepper, derived once."""

    def __init__(self, kek: bytes) -> None:
        self._kek = kek
        self._cache: dict[str, bytes] = {}

    def __call__(self, tenant_id: str) -> bytes:
        found = self._cache.get(tenant_id)
        if found is None:
            found = self._cache[tenant_id] = pepper(self._kek, tenant_id)
        return found


def value_hash(pepper_: bytes, value: str) -> str:
    """128 bits of HMAC-SHA256 of value under the tenant's pepper, as 32 hex digits."""
    return hmac.new(pepper_, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def mask(value: str, keep_last: int) -> str:
    if keep_last and len(value) > 2 * keep_last:
        return MASK + value[-keep_last:]
    return MASK


def _place(tenant_id: str, event_id: str, path: str) -> bytes:
    return b"\x00".join(part.encode("utf-8") for part in ("agentaudit/privacy/v1", tenant_id, event_id, path))


class SubjectCipher:
    """One data subject's key, ready to encrypt and decrypt values in place."""

    def __init__(self, key_id: str, dek: bytes) -> None:
        if len(dek) != DEK_SIZE:
            raise ValueError(f"a subject key is {DEK_SIZE} bytes")
        self.key_id = key_id
        self._aead = AESGCMSIV(hmac.new(dek, _ENC, hashlib.sha256).digest())
        self._nonce_key = hmac.new(dek, _NONCE_KEY, hashlib.sha256).digest()
        self._prefix = f"{ENC_PREFIX}{key_id}:"

    def encrypt(self, tenant_id: str, event_id: str, path: str, value: str) -> str:
        place = _place(tenant_id, event_id, path)
        data = value.encode("utf-8")
        nonce = hmac.new(self._nonce_key, place + b"\x00" + data, hashlib.sha256).digest()[:_NONCE]
        sealed = nonce + self._aead.encrypt(nonce, data, place)
        return self._prefix + base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, tenant_id: str, event_id: str, path: str, token: str) -> str:
        key_id, blob = parse_token(token)
        if key_id != self.key_id:
            raise TokenError(f"{path} is encrypted under key {key_id}, not {self.key_id}")
        try:
            return self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], _place(tenant_id, event_id, path)).decode("utf-8")
        except (InvalidTag, ValueError):
            raise TokenError(f"{path} of event {event_id} does not decrypt: altered, or moved from another place") from None


def is_encrypted(value: object) -> bool:
    return isinstance(value, str) and value.startswith(ENC_PREFIX)


def parse_token(token: str) -> tuple[str, bytes]:
    """(key id, nonce || ciphertext) of an encrypted value."""
    key_id, sep, text = token[len(ENC_PREFIX):].partition(":")
    if not token.startswith(ENC_PREFIX) or not sep:
        raise TokenError("not an encrypted value")
    try:
        blob = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenError("an encrypted value's base64 is damaged") from None
    if len(blob) < _NONCE + 16:
        raise TokenError("an encrypted value is truncated")
    return key_id, blob
