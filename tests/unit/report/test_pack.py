"""The pack on disk: formats, the signed manifest, and what its offline check refuses."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from agentaudit.keyring import Keyring
from agentaudit.report.gather import Gathered
from agentaudit.report.pack import parse_formats, write_pack
from agentaudit.report.sample import proof_file, sample_key
from agentaudit.report.verify_pack import is_pack, verify_pack
from agentaudit.settings import Settings
from tests.unit.report.document import document

KEK = base64.b64encode(bytes(range(32))).decode()


def test_formats_are_repeated_or_comma_separated_and_json_is_always_written() -> None:
    assert parse_formats(["html,PDF"]) == ("html", "pdf", "json")
    assert parse_formats(["pdf", "html"]) == ("html", "pdf", "json")
    assert parse_formats([]) == ("json",)
    with pytest.raises(ValueError, match="docx"):
        parse_formats(["html,docx"])


def test_proof_files_are_named_by_event_id_only_when_that_is_a_safe_file_name() -> None:
    assert proof_file("0193-ab_c.d") == "samples/0193-ab_c.d.proof.json"
    for hostile in ("../../etc/passwd", ".hidden", "a/b", ""):
        name = proof_file(hostile)
        assert name.count("/") == 1 and len(name) == len("samples/") + 64 + len(".proof.json")


def test_the_draw_key_is_sha256_of_seed_colon_event_id() -> None:
    # An auditor recomputes it with any SHA-256 tool: printf '42:e-1' | sha256sum
    assert sample_key(42, "e-1") == hashlib.sha256(b"42:e-1").digest()


@pytest.fixture
def pack(tmp_path: Path) -> tuple[Path, Keyring]:
    keyring = Keyring.create(Settings(home=tmp_path / "home", kek=KEK))
    doc = document()
    doc["sections"]["sample"]["chains"][0]["custody"]["proof_file"] = None  # no proof: made in the integration test
    out = tmp_path / "pack"
    write_pack(out, Gathered(doc, {}), ("html", "json"), keyring, keyring.export_public(), None)
    return out, keyring


def test_a_written_pack_lists_every_file_and_verifies(pack: tuple[Path, Keyring]) -> None:
    out, keyring = pack
    manifest = json.loads((out / "manifest.json").read_text())
    assert [f["name"] for f in manifest["files"]] == ["public-keys.json", "report.html", "report.json"]
    assert manifest["sample"] == {"n": 1, "seed": 42, "event_ids": ["e-1"], "proofs": {"e-1": None}}
    assert is_pack(out) and verify_pack(out, keyring.public_keys()).ok
    assert verify_pack(out).ok  # with its own keys: consistent, though that alone proves no signer


@pytest.mark.parametrize(("change", "kind"), [
    (lambda out: (out / "report.json").write_text("{}"), "pack_file_modified"),
    (lambda out: (out / "report.html").unlink(), "pack_file_missing"),
    (lambda out: (out / "report.pdf").write_bytes(b"%PDF-1.4"), "pack_file_unlisted"),
    (lambda out: (out / "manifest.sig").write_text("{}"), "manifest_bad_signature"),
])
def test_any_change_to_the_pack_fails_its_check(pack: tuple[Path, Keyring], change: object, kind: str) -> None:
    out, keyring = pack
    assert callable(change)
    change(out)
    result = verify_pack(out, keyring.public_keys())
    assert not result.ok and kind in {f.kind for f in result.findings}


def test_a_manifest_cannot_send_the_verifier_outside_the_pack(pack: tuple[Path, Keyring], tmp_path: Path) -> None:
    out, keyring = pack
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"].append({"name": "../home/keys/pipeline.json", "sha256": "0" * 64, "bytes": 1})
    manifest["sample"]["proofs"] = {"e-1": "samples/e-1.proof.json"}
    (out / "manifest.json").write_text(json.dumps(manifest))
    kinds = [f.kind for f in verify_pack(out, keyring.public_keys()).findings]
    assert kinds == ["manifest_bad_signature", "manifest_malformed", "pack_file_missing"]
