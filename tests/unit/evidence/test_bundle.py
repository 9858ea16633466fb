"""The offline bundle verifier on hand-made bundles: what it accepts, and that bad input is reported, never raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentaudit.evidence.bundle import verify_bundle
from agentaudit.evidence.formats import BUNDLE_FORMAT, b64
from agentaudit.evidence.lines import record_decoded_fields, seal_fields
from agentaudit.evidence.manifest import AgentSummary, file_sha256, manifest_bytes, sign_manifest
from tests.unit.evidence.support import FORM, Chain, KeySigner, make_chain

SIGNER = KeySigner()
CHAIN = make_chain(SIGNER, n=4)


def record_lines(chain: Chain) -> list[dict[str, Any]]:
    return [
        {"agent_id": chain.agent_id, "position": i + 1, **record_decoded_fields(chain.records[i]),
         "prev_hash": chain.prevs[i].hex(), "hash": chain.hashes[i].hex(), "value": b64(chain.values[i])}
        for i in range(len(chain.values))
    ]


def write(directory: Path, records: list[Any], *, manifest_edit: Any = None, raw_records: str | None = None) -> Path:
    """A bundle as export writes it, signed by SIGNER; manifest_edit(manifest) may change it before signing."""
    directory.mkdir(exist_ok=True)
    (directory / "records.jsonl").write_text(
        raw_records if raw_records is not None else "".join(json.dumps(r) + "\n" for r in records))
    seal_line = {**seal_fields(CHAIN.seal, FORM.seal_hash(CHAIN.seal)), "value": b64(CHAIN.seal_value)}
    (directory / "seals.jsonl").write_text(json.dumps(seal_line) + "\n")
    (directory / "public-keys.json").write_text(json.dumps(SIGNER.document()))
    summary = AgentSummary(CHAIN.agent_id)
    for position in range(1, len(CHAIN.values) + 1):
        summary.add_record(position)
    summary.add_seal(1)
    manifest: dict[str, Any] = {
        "format": BUNDLE_FORMAT,
        "range": {"since": None, "until": None, "agents": None},
        "seal_policy": {"interval_s": 10.0, "every_records": 8},
        "counts": {"agents": 1, "records": len(CHAIN.values), "seals": 1, "anchors": 0},
        "agents": [vars(summary)],
        "anchors": [],
        "confluent_schema_ids": {},
        "files": [{"name": n, "sha256": file_sha256(directory / n)}
                  for n in ("records.jsonl", "seals.jsonl", "public-keys.json")],
    }
    if manifest_edit is not None:
        manifest_edit(manifest)
    data = manifest_bytes(manifest)
    (directory / "manifest.json").write_bytes(data)
    (directory / "manifest.sig").write_bytes(sign_manifest(data, SIGNER))
    return directory


def kinds(directory: Path) -> set[tuple[str, str | None, int | None]]:
    return {(f.kind, f.file, f.line) for f in verify_bundle(directory, SIGNER.public_keys()).report.findings}


def test_a_hand_made_bundle_verifies(tmp_path: Path) -> None:
    result = verify_bundle(write(tmp_path / "b", record_lines(CHAIN)), SIGNER.public_keys())
    assert result.report.ok, result.report.findings
    assert (result.report.records, result.report.seals, result.signed_by) == (4, 1, SIGNER.current_key_id)


def test_readable_fields_must_say_what_the_bytes_say_even_in_a_signed_bundle(tmp_path: Path) -> None:
    lines = record_lines(CHAIN)
    lines[2]["outcome"] = "denied"
    assert kinds(write(tmp_path / "b", lines)) == {("record_fields_mismatch", "records.jsonl", 3)}


def test_the_manifests_counts_must_match_the_files(tmp_path: Path) -> None:
    found = kinds(write(tmp_path / "b", record_lines(CHAIN)[:3]))
    assert ("manifest_counts_mismatch", "manifest.json", None) in found
    assert ("unsealed", None, None) not in found
    assert ("seal_root_mismatch", "seals.jsonl", 1) in found


def test_garbage_lines_are_named_by_line(tmp_path: Path) -> None:
    lines = [json.dumps(r) for r in record_lines(CHAIN)]
    garbage = ["not json", "[1, 2]", json.dumps({"agent_id": "agent-1"}),
               json.dumps({**record_lines(CHAIN)[0], "value": "@@"}), "\xff"]
    found = kinds(write(tmp_path / "b", [], raw_records="\n".join(lines + garbage) + "\n"))
    assert {("line_malformed", "records.jsonl", n) for n in range(5, 10)} <= found


@pytest.mark.parametrize("edit", [
    lambda m: m.pop("seal_policy"),
    lambda m: m["range"].update(until="soon"),
    lambda m: m.update(files=[{"name": "../../etc/passwd", "sha256": "00"}]),
    lambda m: m.update(anchors="none"),
    lambda m: m.update(confluent_schema_ids={"x": 1}),
])
def test_a_malformed_manifest_is_reported(tmp_path: Path, edit: Any) -> None:
    found = kinds(write(tmp_path / "b", record_lines(CHAIN), manifest_edit=edit))
    assert any(kind == "manifest_malformed" for kind, _, _ in found), found


def test_missing_or_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert kinds(empty) == {("bundle_file_missing", "manifest.json", None)}
    bundle = write(tmp_path / "b", record_lines(CHAIN))
    (bundle / "manifest.json").write_text("[]")
    assert kinds(bundle) == {("manifest_malformed", "manifest.json", None)}
    bundle = write(tmp_path / "c", record_lines(CHAIN))
    (bundle / "seals.jsonl").unlink()
    (bundle / "manifest.sig").unlink()
    found = kinds(bundle)
    assert {("bundle_file_missing", "seals.jsonl", None), ("bundle_file_missing", "manifest.sig", None)} <= found
