"""A pipeline signing key for tests that need seals or registry entries but not the keyring's storage."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from agentaudit.keyring import ed25519_key_id


class TestSigner:
    """An in-memory Ed25519 key that signs like a Keyring (key ids as the keyring makes them); rotate() makes a new one."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self._keys: dict[str, Ed25519PrivateKey] = {}
        self.current_key_id = ""
        self.rotate()

    def rotate(self) -> str:
        key = Ed25519PrivateKey.generate()
        self.current_key_id = ed25519_key_id(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        self._keys[self.current_key_id] = key
        return self.current_key_id

    def sign(self, data: bytes) -> tuple[str, bytes]:
        return self.current_key_id, self._keys[self.current_key_id].sign(data)

    def public_keys(self) -> dict[str, bytes]:
        return {
            key_id: key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) for key_id, key in self._keys.items()
        }

