"""schemas/signing-vectors.json is what the code computes, and its keys and
signatures check out with independent primitives."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agentaudit.signing import vectors
from agentaudit.signing.canonical import DOMAIN_TAG
from tests.unit.signing.support import VECTORS


def test_file_is_what_the_code_computes() -> None:
    assert vectors.vectors_path().read_text(encoding="utf-8") == vectors.render()
    assert vectors.main(["--check"]) == 0


def test_check_fails_on_a_stale_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "signing-vectors.json"
    stale.write_text(vectors.render().replace(VECTORS["vectors"][0]["canonical_hex"], "00"), encoding="utf-8")
    monkeypatch.setattr(vectors, "vectors_path", lambda: stale)
    assert vectors.main(["--check"]) == 1


def test_header_and_keys() -> None:
    assert bytes.fromhex(VECTORS["domain_tag_hex"]) == DOMAIN_TAG
    ed = VECTORS["keys"]["ed-2026-01"]
    # RFC 8032 section 7.1, TEST 1.
    assert ed["public_key_hex"] == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    private = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ed["private_seed_hex"]))
    assert private.public_key().public_bytes_raw().hex() == ed["public_key_hex"]


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_signatures_verify_with_plain_primitives(vector: dict[str, Any]) -> None:
    key = VECTORS["keys"][vector["key_id"]]
    data = bytes.fromhex(vector["canonical_hex"])
    signature = bytes.fromhex(vector["signature_hex"])
    assert vector["action"]["key_id"] == vector["key_id"] and vector["action"]["signature"] is None
    if vector["algorithm"] == "ed25519":
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key_hex"])).verify(signature, data)
        assert len(signature) == 64
    else:
        assert vector["algorithm"] == "hmac-sha256"
        assert hmac.new(bytes.fromhex(key["secret_hex"]), data, hashlib.sha256).digest() == signature


def test_vectors_cover_both_algorithms_and_the_utf16_sort_trap() -> None:
    assert {v["algorithm"] for v in VECTORS["vectors"]} == {"ed25519", "hmac-sha256"}
    full = next(v for v in VECTORS["vectors"] if v["name"] == "full")
    keys = list(full["action"]["attributes"])
    by_utf8 = sorted(keys, key=lambda k: k.encode("utf-8"))
    by_utf16 = sorted(keys, key=lambda k: k.encode("utf-16-be"))
    assert by_utf8 != by_utf16 and keys != by_utf8
