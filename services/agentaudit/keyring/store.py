"""The keyring file: HOME/keys/pipeline.json, mode 0600, private keys sealed under the KEK.

    {"format": "agentaudit-keyring/v1",
     "keys": [{"key_id": ..., "public_key": <base64>, "private_key_sealed": <base64>,
               "created_us": ..., "retired_us": null}, ...]}

Each private key is sealed (AES-256-GCM) bound to ("pipeline-key", key_id),
and loading opens every one and checks it yields its public key: a key added
to the file by someone without the KEK, or a public key swapped for another,
is refused, so the set of keys signatures are checked against can only grow
through this code. Writes replace the file atomically under a lock, so two
processes rotating at once cannot lose a key.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentaudit.crypto import SealError, load_kek, seal, unseal
from agentaudit.crypto.kek import read_private_file
from agentaudit.keyring.keys import KeyringError, PipelineKey, ed25519_key_id, public_keys_document
from agentaudit.settings import Settings

FORMAT = "agentaudit-keyring/v1"


def keyring_path(settings: Settings) -> Path:
    return settings.home / "keys" / "pipeline.json"


def _now_us() -> int:
    return time.time_ns() // 1000


def _new_key(kek: bytes, now_us: int) -> tuple[PipelineKey, Ed25519PrivateKey]:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    key_id = ed25519_key_id(public)
    sealed = seal(kek, private.private_bytes_raw(), "pipeline-key", key_id)
    return PipelineKey(key_id, public, sealed, now_us), private


def _open(kek: bytes, key: PipelineKey, path: Path) -> Ed25519PrivateKey:
    """The private key of one entry, checked against its public key and id."""
    if ed25519_key_id(key.public_key) != key.key_id:
        raise KeyringError(f"{path}: key {key.key_id} does not match its public key (the file was altered)")
    try:
        private = Ed25519PrivateKey.from_private_bytes(unseal(kek, key.sealed_private_key, "pipeline-key", key.key_id))
    except SealError as exc:
        raise KeyringError(f"{path}: {exc}") from None
    if private.public_key().public_bytes_raw() != key.public_key:
        raise KeyringError(f"{path}: key {key.key_id}'s private key does not match its public key (the file was altered)")
    return private


def _decode(path: Path, raw: bytes) -> list[PipelineKey]:
    try:
        document = json.loads(raw)
        if document.get("format") != FORMAT:
            raise KeyringError(f"{path} is not an agentaudit keyring ({FORMAT})")
        return [
            PipelineKey(
                key_id=str(k["key_id"]),
                public_key=base64.b64decode(k["public_key"], validate=True),
                sealed_private_key=base64.b64decode(k["private_key_sealed"], validate=True),
                created_us=int(k["created_us"]),
                retired_us=None if k["retired_us"] is None else int(k["retired_us"]),
            )
            for k in document["keys"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise KeyringError(f"{path} is not a readable keyring ({type(exc).__name__})") from None


def _encode(keys: list[PipelineKey]) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "keys": [
            {
                "key_id": k.key_id,
                "public_key": base64.b64encode(k.public_key).decode("ascii"),
                "private_key_sealed": base64.b64encode(k.sealed_private_key).decode("ascii"),
                "created_us": k.created_us,
                "retired_us": k.retired_us,
            }
            for k in keys
        ],
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def _write(path: Path, keys: list[PipelineKey]) -> None:
    """Replace path atomically with a 0600 file (created 0600, never wider for a moment)."""
    fd, tmp = tempfile.mkstemp(prefix=".pipeline.", dir=path.parent)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_encode(keys))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Keyring:
    """The pipeline's signing keys: one current key signs, every key ever used verifies.

    Holds the KEK and the current private key in memory; its repr shows
    neither. Not thread-safe for rotate(); sign() may be called from any thread.
    """

    def __init__(self, path: Path, kek: bytes, keys: list[PipelineKey], current: Ed25519PrivateKey) -> None:
        self._path = path
        self._kek = kek
        self._keys = keys
        self._current = current
        self._current_id = ed25519_key_id(current.public_key().public_bytes_raw())

    def __repr__(self) -> str:
        return f"Keyring(path={str(self._path)!r}, current_key_id={self.current_key_id!r}, keys={len(self._keys)})"

    @classmethod
    def load(cls, settings: Settings) -> Keyring:
        """The keyring under settings.home; KeyringError with the fix when there is none."""
        path = keyring_path(settings)
        if not path.exists():
            raise KeyringError(
                f"no pipeline keyring at {path}: create it once with `agentaudit keys init` (with the KEK from "
                f"AGENTAUDIT_KEK_FILE or AGENTAUDIT_KEK; `agentaudit keys init --dev` for local development)"
            )
        return cls._read(path, load_kek(settings))

    @classmethod
    def _read(cls, path: Path, kek: bytes) -> Keyring:
        keys = _decode(path, read_private_file(path, "keyring"))
        if not keys:
            raise KeyringError(f"{path} holds no keys")
        privates = [_open(kek, key, path) for key in keys]
        active = [i for i, key in enumerate(keys) if key.retired_us is None]
        if len(active) != 1:
            raise KeyringError(f"{path} has {len(active)} keys that are not retired; exactly one must sign")
        return cls(path, kek, keys, privates[active[0]])

    @classmethod
    def create(cls, settings: Settings) -> Keyring:
        """A new keyring with its first key; refuses to replace an existing one."""
        kek = load_kek(settings)
        path = keyring_path(settings)
        with _locked(path):
            if path.exists():
                raise KeyringError(f"{path} exists already; use `agentaudit keys rotate` for a new signing key")
            key, private = _new_key(kek, _now_us())
            _write(path, [key])
        return cls(path, kek, [key], private)

    def rotate(self) -> str:
        """Start signing with a new key; the old one is retired but kept for verification. Returns the new id."""
        with _locked(self._path):
            current = Keyring._read(self._path, self._kek)  # another process may have rotated meanwhile
            now = _now_us()
            key, private = _new_key(self._kek, now)
            keys = [k if k.retired_us is not None else _retired(k, now) for k in current._keys] + [key]
            _write(self._path, keys)
        self._keys, self._current, self._current_id = keys, private, key.key_id
        return key.key_id

    @property
    def current_key_id(self) -> str:
        return self._current_id

    def sign(self, data: bytes) -> tuple[str, bytes]:
        """(key id, 64-byte Ed25519 signature of data) with the current key."""
        return self._current_id, self._current.sign(data)

    def public_keys(self) -> dict[str, bytes]:
        """key_id -> raw 32-byte public key, for every key this keyring ever held."""
        return {key.key_id: key.public_key for key in self._keys}

    def keys(self) -> list[PipelineKey]:
        return list(self._keys)

    def export_public(self) -> dict[str, Any]:
        """The public keys as the JSON document auditors verify with."""
        return public_keys_document(self._keys)


def _retired(key: PipelineKey, at_us: int) -> PipelineKey:
    return PipelineKey(key.key_id, key.public_key, key.sealed_private_key, key.created_us, at_us)


def local_public_keys(settings: Settings) -> dict[str, bytes]:
    """key_id -> public key of every key in the local keyring; reads no private key, needs no KEK."""
    path = keyring_path(settings)
    if not path.exists():
        raise KeyringError(f"no pipeline keyring at {path}: pass the auditor's copy with --public-keys FILE")
    return {key.key_id: key.public_key for key in _decode(path, read_private_file(path, "keyring"))}


def local_public_keys_document(settings: Settings) -> dict[str, Any]:
    """public_keys_document of the local keyring without the KEK (no private key is opened).

    For commands that hand out public keys but sign nothing, such as `agentaudit prove`.
    """
    path = keyring_path(settings)
    if not path.exists():
        raise KeyringError(f"no pipeline keyring at {path}: create it with `agentaudit keys init`")
    return public_keys_document(_decode(path, read_private_file(path, "keyring")))
