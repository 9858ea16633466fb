"""Seals: signed statements over a stretch of an agent's chain. Pure, no I/O.

A seal's Avro body is  content || key_id || signature  (schemas/avro/Seal.v1):

    seal_hash = SHA-256(SEAL_DOMAIN || content)
    signature = Ed25519(SEAL_DOMAIN || content || avro(key_id))

The next seal's prev_seal_hash is this seal_hash. Why the hash leaves out the
key id and signature: a seal re-made after a crash, under a key rotated in the
meantime, has the same content and so the same hash -- the seal chain never
forks, whichever copy was stored first. Ed25519 signatures are deterministic,
so under the same key the copies are byte-identical anyway.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agentaudit.chain.forms import PrefixForm, avro_bytes
from agentaudit.codec.schemas import SchemaSet

SEAL_DOMAIN = b"agentaudit/seal/v1\x00"
SEAL_GENESIS_DOMAIN = b"agentaudit/seal/v1/genesis"

SignatureCheck = Callable[[Mapping[str, bytes], str, bytes, bytes], bool]
"""(public keys by id, key_id, data, signature) -> valid; the keyring's verify_signature."""


class SealSigner(Protocol):
    """The pipeline key that signs seals (agentaudit.keyring.Keyring satisfies it)."""

    @property
    def current_key_id(self) -> str: ...

    def sign(self, data: bytes) -> tuple[str, bytes]: ...


def seal_hash_of(content: bytes) -> bytes:
    """seal_hash = SHA-256(SEAL_DOMAIN || content), content being the seal's Avro body before key_id."""
    return hashlib.sha256(SEAL_DOMAIN + content).digest()


def seal_genesis(agent_id: str) -> bytes:
    """prev_seal_hash of an agent's first seal; per agent, like the chain genesis."""
    return hashlib.sha256(SEAL_GENESIS_DOMAIN + agent_id.encode("utf-8")).digest()


@dataclass(frozen=True)
class SealedBytes:
    """A seal as it goes on the wire and into ClickHouse."""

    datum: dict[str, Any]  # every field, signature included
    body: bytes  # content || avro(key_id) || avro(signature): the Avro body
    seal_hash: bytes


class SealForm:
    """Builds, signs and checks seals against the shipped Seal schema."""

    def __init__(self, schemas: SchemaSet) -> None:
        self._content = PrefixForm(schemas, "Seal", ("key_id", "signature"))

    def content(self, datum: Mapping[str, Any]) -> bytes:
        return self._content.encode(dict(datum))

    def make(self, content_fields: dict[str, Any], signer: SealSigner) -> SealedBytes:
        """Sign a seal whose fields other than key_id/signature are given."""
        content = self.content(content_fields)
        key_id = signer.current_key_id
        signed = SEAL_DOMAIN + content + avro_bytes(key_id.encode("utf-8"))
        used_key, signature = signer.sign(signed)
        if used_key != key_id:
            raise RuntimeError(f"signer used key {used_key}, announced {key_id}")
        datum = {**content_fields, "key_id": key_id, "signature": signature}
        body = signed[len(SEAL_DOMAIN):] + avro_bytes(signature)
        return SealedBytes(datum, body, seal_hash_of(content))

    def seal_hash(self, datum: Mapping[str, Any]) -> bytes:
        return seal_hash_of(self.content(datum))

    def signed_bytes(self, datum: Mapping[str, Any]) -> bytes:
        """What the seal's signature is over."""
        return SEAL_DOMAIN + self.content(datum) + avro_bytes(datum["key_id"].encode("utf-8"))

    def signature_valid(self, datum: Mapping[str, Any], public_keys: Mapping[str, bytes], check: SignatureCheck) -> bool:
        return check(public_keys, datum["key_id"], self.signed_bytes(datum), datum["signature"])
