"""API key format and hashing. Pure.

A key reads `aak_<key id>_<secret>`: the key id (12 hex characters) is public
and names the key in logs, the access log and revocations; the secret (32
random bytes, base64url) is shown once, at creation, and stored only as
SHA-256 over the key id and the secret. The secret has 256 bits of entropy, so
a slow password hash would add nothing but latency to every request; binding
the key id into the hash keeps one stored hash from matching another key's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

PREFIX = "aak"
_FORM = re.compile(r"^aak_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


class MalformedKey(ValueError):
    """The presented string is not an agentaudit API key at all."""


def new_key() -> tuple[str, str]:
    """(key id, the whole key to hand over once)."""
    key_id = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return key_id, f"{PREFIX}_{key_id}_{secret}"


def parse(presented: str) -> tuple[str, str]:
    """(key id, secret) of a presented key; MalformedKey without echoing it."""
    match = _FORM.match(presented.strip())
    if not match:
        raise MalformedKey("not an agentaudit API key (expected aak_<12 hex>_<43 base64url characters>)")
    return match["key_id"], match["secret"]


def secret_hash(key_id: str, secret: str) -> str:
    """The stored form of a key's secret (hex)."""
    return hashlib.sha256(f"agentaudit api key\x00{key_id}\x00{secret}".encode()).hexdigest()


def matches(key_id: str, secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(key_id, secret), stored_hash)
