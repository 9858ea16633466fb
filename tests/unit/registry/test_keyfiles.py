"""Agent key files: public keys in (PEM or base64), private material out 0600 and never overwritten."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from agentaudit.errors import ConfigError
from agentaudit.keyring import ed25519_key_id
from agentaudit.registry.keyfiles import new_ed25519_key, private_key_pem, read_public_key, write_private_file


def test_public_keys_read_from_pem_or_raw_base64(tmp_path: Path) -> None:
    key, private = new_ed25519_key()
    pem = tmp_path / "agent.pub.pem"
    pem.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    raw = tmp_path / "agent.pub"
    raw.write_text(base64.b64encode(key.material).decode() + "\n")
    assert read_public_key(pem) == read_public_key(raw) == key
    assert key.key_id == ed25519_key_id(key.material)


def test_private_keys_and_other_curves_are_refused(tmp_path: Path) -> None:
    _, private = new_ed25519_key()
    leaked = tmp_path / "agent.pem"
    leaked.write_bytes(private_key_pem(private))
    with pytest.raises(ConfigError, match="holds a private key"):
        read_public_key(leaked)
    ec = tmp_path / "ec.pem"
    ec.write_bytes(generate_private_key(SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(ConfigError, match="not an Ed25519 public key"):
        read_public_key(ec)
    short = tmp_path / "short"
    short.write_text(base64.b64encode(b"x" * 16).decode())
    with pytest.raises(ConfigError, match="16 bytes"):
        read_public_key(short)


def test_private_files_are_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private_file(path, b"first")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ConfigError, match="never overwritten"):
        write_private_file(path, b"second")
    assert path.read_bytes() == b"first"
