"""A pipeline signing key for tests that need seals but not the keyring's storage."""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class TestSigner:
    """An in-memory Ed25519 key with the SealSigner interface; rotate() makes a new one."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self.current_key_id = ""
        self.rotate()

    def rotate(self) -> str:
        key = Ed25519PrivateKey.generate()
        self.current_key_id = f"test-{len(self._keys) + 1}"
        self._keys[self.current_key_id] = key
        return self.current_key_id

    def sign(self, data: bytes) -> tuple[str, bytes]:
        return self.current_key_id, self._keys[self.current_key_id].sign(data)

    def public_keys(self) -> dict[str, bytes]:
        return {
            key_id: key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for key_id, key in self._keys.items()
        }


def check_signature(public_keys: Mapping[str, bytes], key_id: str, data: bytes, signature: bytes) -> bool:
    raw = public_keys.get(key_id)
    if raw is None:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, data)
    except InvalidSignature:
        return False
    return True
