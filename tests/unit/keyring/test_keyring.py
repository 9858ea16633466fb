"""The pipeline keyring: file mode, no plaintext private key, rotation, offline verification."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentaudit.crypto import seal
from agentaudit.errors import ConfigError
from agentaudit.keyring import (
    Keyring,
    KeyringError,
    ed25519_key_id,
    keyring_path,
    load_public_keys,
    verify_signature,
)
from agentaudit.settings import Settings

KEK = bytes(range(32))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path, kek=base64.b64encode(KEK).decode())


def _private_key_bytes(keyring: Keyring) -> bytes:
    return keyring._current.private_bytes_raw()  # the test looks inside on purpose


def test_create_writes_a_0600_file_without_the_plaintext_private_key(settings: Settings) -> None:
    keyring = Keyring.create(settings)
    path = keyring_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    private = _private_key_bytes(keyring)
    for form in (private, base64.b64encode(private), private.hex().encode()):
        assert form not in raw
    assert private.hex() not in repr(keyring)
    (entry,) = json.loads(raw)["keys"]
    assert entry["key_id"] == keyring.current_key_id == ed25519_key_id(base64.b64decode(entry["public_key"]))
    assert len(keyring.current_key_id) == 16


def test_load_finds_the_same_keys_and_signatures_verify_offline(settings: Settings) -> None:
    created = Keyring.create(settings)
    loaded = Keyring.load(settings)
    assert loaded.public_keys() == created.public_keys()
    key_id, signature = loaded.sign(b"seal")
    assert key_id == created.current_key_id and len(signature) == 64
    assert verify_signature(created.public_keys(), key_id, b"seal", signature)
    assert not verify_signature(created.public_keys(), key_id, b"seal!", signature)
    assert not verify_signature(created.public_keys(), "0" * 16, b"seal", signature)
    assert not verify_signature(created.public_keys(), key_id, b"seal", signature[:-1])


def test_rotate_signs_with_a_new_key_and_keeps_the_old_for_verification(settings: Settings) -> None:
    keyring = Keyring.create(settings)
    old_id, old_signature = keyring.sign(b"before")
    new_id = keyring.rotate()
    assert new_id != old_id and keyring.current_key_id == new_id
    assert keyring.sign(b"after")[0] == new_id
    reloaded = Keyring.load(settings)
    assert reloaded.current_key_id == new_id and set(reloaded.public_keys()) == {old_id, new_id}
    assert verify_signature(reloaded.public_keys(), old_id, b"before", old_signature)
    retired = {k.key_id: k.retired_us for k in reloaded.keys()}
    assert retired[old_id] is not None and retired[new_id] is None
    assert stat.S_IMODE(keyring_path(settings).stat().st_mode) == 0o600


def test_a_stale_keyring_rotating_does_not_lose_a_key(settings: Settings) -> None:
    first, second = Keyring.create(settings), Keyring.load(settings)
    a = first.rotate()
    b = second.rotate()  # second never saw a: it re-reads the file under the lock
    assert {a, b} <= set(Keyring.load(settings).public_keys())
    assert len(Keyring.load(settings).public_keys()) == 3


def test_missing_keyring_says_how_to_create_it(settings: Settings) -> None:
    with pytest.raises(ConfigError, match="agentaudit keys init"):
        Keyring.load(settings)


def test_create_refuses_to_replace_a_keyring(settings: Settings) -> None:
    Keyring.create(settings)
    with pytest.raises(KeyringError, match="exists already.*keys rotate"):
        Keyring.create(settings)


def test_the_wrong_kek_does_not_open_the_keyring(settings: Settings) -> None:
    Keyring.create(settings)
    other = settings.with_changes(kek=base64.b64encode(bytes(32)).decode())
    with pytest.raises(KeyringError, match="another key-encryption key"):
        Keyring.load(other)


def test_a_public_key_added_without_the_kek_is_refused(settings: Settings) -> None:
    Keyring.create(settings)
    path = keyring_path(settings)
    document = json.loads(path.read_text())
    forged = Ed25519PrivateKey.generate()
    public = forged.public_key().public_bytes_raw()
    document["keys"][0]["retired_us"] = 1
    document["keys"].append({
        "key_id": ed25519_key_id(public), "public_key": base64.b64encode(public).decode(),
        # sealed under a KEK the forger chose: does not open under the real one
        "private_key_sealed": base64.b64encode(seal(bytes(32), forged.private_bytes_raw(), "pipeline-key",
                                                    ed25519_key_id(public))).decode(),
        "created_us": 2, "retired_us": None,
    })
    path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match=ed25519_key_id(public)):
        Keyring.load(settings)


def test_a_swapped_public_key_is_refused(settings: Settings) -> None:
    Keyring.create(settings)
    path = keyring_path(settings)
    document = json.loads(path.read_text())
    document["keys"][0]["public_key"] = base64.b64encode(
        Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    path.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="does not match its public key"):
        Keyring.load(settings)


def test_a_keyring_others_can_read_is_refused(settings: Settings) -> None:
    Keyring.create(settings)
    keyring_path(settings).chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Keyring.load(settings)


def test_exported_public_keys_load_and_a_forged_id_is_refused(settings: Settings, tmp_path: Path) -> None:
    keyring = Keyring.create(settings)
    keyring.rotate()
    exported = tmp_path / "public.json"
    exported.write_text(json.dumps(keyring.export_public()))
    assert load_public_keys(exported) == keyring.public_keys()
    assert "private" not in exported.read_text()
    document = keyring.export_public()
    document["keys"][0]["key_id"] = "0123456789abcdef"
    exported.write_text(json.dumps(document))
    with pytest.raises(KeyringError, match="does not match"):
        load_public_keys(exported)
