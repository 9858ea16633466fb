"""Signers and verify(): every covered field is protected, secrets never show,
and bad input is a False, never an exception."""

from __future__ import annotations

import copy
import hmac
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agentaudit.codec import load_schemas
from agentaudit.registry.model import KeyAlgorithm
from agentaudit.signing import Ed25519Signer, HmacSigner, Signer, canonical_bytes, sign_action, verify
from agentaudit.signing.verify import ed25519_public_key
from tests.unit.signing.support import vector_action

SECRET = bytes(range(100, 132))
ED = Ed25519Signer.generate("ed-1")
HM = HmacSigner("hmac-1", SECRET)


def material(signer: Signer) -> bytes:
    return ED.public_key_bytes() if signer is ED else SECRET


def verifies(signer: Signer, action: dict[str, Any]) -> bool:
    return verify(signer.algorithm, material(signer), canonical_bytes(action), action["signature"])


# Another value for every leaf of the "full" vector's action; enums get another symbol.
_OTHER_SYMBOL = {
    ("principal", "type"): "agent", ("action_type",): "tool_call", ("outcome",): "success",
    ("policy", "decision"): "deny", ("approval", "approver", "type"): "system",
    ("approval", "decision"): "approved",
}


def _tamperings(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, new value) for every leaf under value, and for the attributes map as a whole."""
    if isinstance(value, dict) and path != ("attributes",):
        for name, child in value.items():
            if name != "signature":
                yield from _tamperings(child, (*path, name))
        return
    if path in _OTHER_SYMBOL:
        yield path, _OTHER_SYMBOL[path]
    elif path == ("attributes",):
        yield path, {**value, "Z": "changed"}
        yield path, {k: v for k, v in value.items() if k != "a"}
        yield path, {**value, "new": ""}
    elif isinstance(value, bool) or value is None:
        yield path, "x"
    elif isinstance(value, int):
        yield path, value + 1
    else:
        yield path, value + "x"
        if value:
            yield path, value[:-1]


def _set(action: dict[str, Any], path: tuple[str, ...], new: Any) -> dict[str, Any]:
    changed = copy.deepcopy(action)
    target = changed
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = new
    return changed


@pytest.mark.parametrize("signer", [ED, HM], ids=["ed25519", "hmac"])
def test_tampering_any_covered_field_breaks_the_signature(signer: Signer) -> None:
    signed = sign_action(vector_action("full"), signer)
    assert verifies(signer, signed)
    touched = set()
    for path, new in _tamperings(signed):
        assert not verifies(signer, _set(signed, path, new)), f"changing {'.'.join(path)} went unnoticed"
        touched.add(path[0])
    v1_fields = {f["name"] for f in load_schemas().versions("AgentAction")[0].raw["fields"]}
    assert touched == v1_fields - {"signature"}  # every field but the signature, key_id included


def test_key_id_is_covered_so_a_signature_cannot_be_moved_to_another_key() -> None:
    twin = HmacSigner("hmac-2", SECRET)  # same secret registered under a second id
    signed = sign_action(vector_action("minimal"), HM)
    moved = {**signed, "key_id": twin.key_id}
    assert not verify(twin.algorithm, SECRET, canonical_bytes(moved), moved["signature"])


def test_sign_action_replaces_key_id_and_signature_and_leaves_the_input_alone() -> None:
    original = {**vector_action("minimal"), "key_id": "stale", "signature": b"old"}
    signed = sign_action(original, ED)
    assert signed["key_id"] == "ed-1" and len(signed["signature"]) == 64
    assert original["key_id"] == "stale" and original["signature"] == b"old"
    assert verifies(ED, signed)


def test_ed25519_signatures_are_deterministic_and_64_bytes() -> None:
    data = canonical_bytes(vector_action("minimal"))
    assert ED.sign(data) == ED.sign(data) and len(ED.sign(data)) == 64
    assert len(ED.public_key_bytes()) == 32


def test_ed25519_from_raw_bytes_and_from_pem(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    plain = tmp_path / "plain.pem"
    plain.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
    locked = tmp_path / "locked.pem"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"pw")))
    signers = [Ed25519Signer.from_private_bytes("k", seed), Ed25519Signer.from_pem("k", plain),
               Ed25519Signer.from_pem("k", locked, password=b"pw")]
    data = b"some canonical bytes"
    assert {s.sign(data) for s in signers} == {key.sign(data)}
    assert {s.public_key_bytes() for s in signers} == {key.public_key().public_bytes_raw()}
    with pytest.raises(ValueError, match="not a usable PEM"):
        Ed25519Signer.from_pem("k", locked, password=b"wrong")
    with pytest.raises(ValueError, match="32 raw bytes"):
        Ed25519Signer.from_private_bytes("k", seed[:31])


def test_pem_of_another_key_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(ValueError, match="not an Ed25519 private key"):
        Ed25519Signer.from_pem("k", path)


def test_secrets_never_show_in_repr_or_errors() -> None:
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    ed = Ed25519Signer.from_private_bytes("ed-9", seed)
    for text in (repr(ed), str(ed), repr(HM), str(HM)):
        assert seed.hex() not in text and SECRET.hex() not in text and repr(SECRET) not in text
    assert repr(HM) == "HmacSigner(key_id='hmac-1')" and repr(ed) == "Ed25519Signer(key_id='ed-9')"
    with pytest.raises(ValueError) as short:
        HmacSigner("h", b"s3cr3t-but-short")
    assert "s3cr3t" not in str(short.value)


def test_signers_satisfy_the_protocol() -> None:
    assert isinstance(ED, Signer) and isinstance(HM, Signer)
    assert (ED.algorithm, HM.algorithm) == (KeyAlgorithm.ED25519, KeyAlgorithm.HMAC_SHA256)
    with pytest.raises(ValueError, match="key_id"):
        HmacSigner("", SECRET)


@pytest.mark.parametrize("signer", [ED, HM], ids=["ed25519", "hmac"])
def test_malformed_signatures_are_invalid_not_errors(signer: Signer) -> None:
    data = canonical_bytes(vector_action("minimal"))
    good = signer.sign(data)
    for bad in (b"", good[:-1], good + b"\x00", bytes(len(good)), bytes([good[0] ^ 1]) + good[1:]):
        assert verify(signer.algorithm, material(signer), data, bad) is False
    assert verify(signer.algorithm, material(signer), data + b"x", good) is False


def test_unusable_key_material_is_an_error_not_a_bad_signature() -> None:
    with pytest.raises(ValueError, match="32 raw bytes"):
        verify(KeyAlgorithm.ED25519, b"\x01" * 31, b"data", b"\x00" * 64)
    with pytest.raises(ValueError, match="cannot be empty"):
        verify(KeyAlgorithm.HMAC_SHA256, b"", b"data", b"\x00" * 32)


def test_hmac_tags_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real: Callable[[bytes, bytes], bool] = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify(KeyAlgorithm.HMAC_SHA256, SECRET, b"data", HM.sign(b"data"))
    assert len(calls) == 1


def test_parsed_public_keys_are_cached_by_their_bytes() -> None:
    ed25519_public_key.cache_clear()
    data = b"data"
    for _ in range(10):
        assert verify(KeyAlgorithm.ED25519, ED.public_key_bytes(), data, ED.sign(data))
    info = ed25519_public_key.cache_info()
    assert (info.misses, info.hits) == (1, 9)
