"""Agent key material on disk: public keys read in, new keys and secrets written out 0600."""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agentaudit.errors import ConfigError
from agentaudit.keyring import ed25519_key_id
from agentaudit.registry.model import KeyAlgorithm
from agentaudit.registry.requests import NewKey


def ed25519_key(public_key: bytes) -> NewKey:
    return NewKey(ed25519_key_id(public_key), KeyAlgorithm.ED25519, public_key)


def read_public_key(path: Path) -> NewKey:
    """An Ed25519 public key from a PEM file (SubjectPublicKeyInfo) or the raw 32 bytes in base64."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read public key {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        raise ConfigError(f"{path} holds a private key: give the registry only the public key "
                          "(the agent keeps the private one)")
    if b"-----BEGIN" in data:
        try:
            public = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise ConfigError(f"{path} is not a PEM public key: {exc}") from None
        if not isinstance(public, Ed25519PublicKey):
            raise ConfigError(f"{path} is a {type(public).__name__}, not an Ed25519 public key")
        return ed25519_key(public.public_bytes_raw())
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{path} is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ConfigError(f"{path} decodes to {len(raw)} bytes; a raw Ed25519 public key is 32")
    return ed25519_key(raw)


def new_ed25519_key() -> tuple[NewKey, Ed25519PrivateKey]:
    private = Ed25519PrivateKey.generate()
    return ed25519_key(private.public_key().public_bytes_raw()), private


def refuse_existing(path: Path, option: str) -> None:
    """Refuse before anything is written: a key file is never overwritten (it may be the only copy)."""
    if path.exists():
        raise ConfigError(f"{option} {path} exists; a key file is never overwritten: choose another path")


def write_private_file(path: Path, data: bytes) -> None:
    """Create path with mode 0600 (never wider, not even for a moment); refuse if it exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} exists; a key file is never overwritten: choose another path") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def private_key_pem(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


def hmac_secret_document(agent_id: str, key_id: str, secret: bytes) -> bytes:
    """What the agent runtime needs to sign with an HMAC key: its ids and the secret."""
    return (json.dumps({"agent_id": agent_id, "key_id": key_id, "algorithm": "hmac-sha256",
                        "secret": base64.b64encode(secret).decode("ascii")}, indent=2) + "\n").encode("utf-8")
