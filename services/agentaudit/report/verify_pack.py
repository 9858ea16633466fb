"""`agentaudit verify --bundle DIR` on a report pack: offline, no database, nothing but the pack and public keys.

1. manifest.sig verifies over manifest.json with a pipeline public key (the
   keys given out of band, or else the pack's own public-keys.json, which
   proves only that the pack is self-consistent);
2. every listed file has the SHA-256 and size the manifest says, every name
   is one a pack may hold, and no file is in the pack that the manifest does
   not list (an added file is as much a change as an edited one);
3. every sampled event has its proof file, each proof verifies
   (agentaudit.evidence.proof) and is about the event it is filed under, and
   report.json samples exactly the events the manifest names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentaudit.errors import AgentAuditError
from agentaudit.evidence.manifest import file_sha256, signature_problem
from agentaudit.evidence.proof import verify_proof
from agentaudit.keyring.keys import parse_public_keys, verify_signature
from agentaudit.report.formats import FILE_NAME, KEYS_FILE, MANIFEST_FILE, PACK_FORMAT, REPORT_JSON, SIGNATURE_FILE
from agentaudit.verify.checks import Finding

PACK = ""  # agent_id of findings about the pack's files


@dataclass
class PackResult:
    findings: list[Finding] = field(default_factory=list)
    manifest: dict[str, Any] | None = None
    signed_by: str | None = None
    keys_given: bool = False
    files: int = 0
    proofs: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings and self.manifest is not None

    def problem(self, kind: str, detail: str, file: str | None = None, event_id: str | None = None) -> None:
        self.findings.append(Finding(kind, PACK, detail, file=file, event_id=event_id))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "format": PACK_FORMAT, "signed_by": self.signed_by, "keys_given": self.keys_given,
                "files": self.files, "proofs": self.proofs, "findings": [f.as_dict() for f in self.findings]}


def is_pack(directory: Path) -> bool:
    """Whether DIR's manifest says it is a report pack (anything else is left to the bundle verifier)."""
    try:
        manifest = json.loads((directory / MANIFEST_FILE).read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == PACK_FORMAT


def _keys(directory: Path, result: PackResult, trusted: Mapping[str, bytes] | None) -> dict[str, bytes]:
    try:
        own = parse_public_keys(json.loads((directory / KEYS_FILE).read_bytes()), KEYS_FILE)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AgentAuditError) as exc:
        result.problem("public_keys_malformed", f"{KEYS_FILE} cannot be read: {exc}", KEYS_FILE)
        own = {}
    if trusted is None:
        return own
    for key_id, raw in sorted(own.items()):
        if trusted.get(key_id) != raw:
            result.problem("public_key_untrusted", f"the pack's key {key_id} is not one of the keys you were given",
                           KEYS_FILE)
    return dict(trusted)  # signatures are checked with the trusted keys alone


def verify_pack(directory: Path, trusted: Mapping[str, bytes] | None = None) -> PackResult:
    result = PackResult(keys_given=trusted is not None)
    try:
        data = (directory / MANIFEST_FILE).read_bytes()
        manifest = json.loads(data)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        result.problem("manifest_malformed", f"{MANIFEST_FILE} cannot be read: {exc}", MANIFEST_FILE)
        return result
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        result.problem("manifest_malformed", f"{MANIFEST_FILE} is not an {PACK_FORMAT} manifest", MANIFEST_FILE)
        return result
    result.manifest = manifest
    keys = _keys(directory, result, trusted)
    try:
        problem = signature_problem((directory / SIGNATURE_FILE).read_bytes(), data, keys, verify_signature)
    except OSError:
        problem = f"{SIGNATURE_FILE} is missing"
    if problem:
        result.problem("manifest_bad_signature", problem, SIGNATURE_FILE)
    else:
        result.signed_by = json.loads((directory / SIGNATURE_FILE).read_bytes())["key_id"]
    listed = _check_files(directory, manifest, result)
    if REPORT_JSON not in listed:
        result.problem("manifest_malformed", f"the manifest does not list {REPORT_JSON}", MANIFEST_FILE)
    _check_samples(directory, manifest, listed, keys, result)
    return result


def _check_files(directory: Path, manifest: dict[str, Any], result: PackResult) -> set[str]:
    files = manifest.get("files")
    entries = [e for e in files if isinstance(e, dict)] if isinstance(files, list) else []
    listed: set[str] = set()
    for entry in entries:
        name = entry.get("name")
        if not isinstance(name, str) or not FILE_NAME.match(name):
            result.problem("manifest_malformed", f"the manifest lists {name!r}, which no pack holds", MANIFEST_FILE)
            continue
        listed.add(name)
        path = directory / name
        if not path.is_file():
            result.problem("pack_file_missing", f"{name} is missing", name)
        elif file_sha256(path) != entry.get("sha256") or path.stat().st_size != entry.get("bytes"):
            result.problem("pack_file_modified", f"{name} does not have the SHA-256 the manifest lists "
                           "(changed after the report was signed)", name)
        else:
            result.files += 1
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}
    for name in sorted(present - listed - {MANIFEST_FILE, SIGNATURE_FILE}):
        result.problem("pack_file_unlisted", f"{name} is in the pack but not in its signed manifest", name)
    return listed


def _check_samples(directory: Path, manifest: dict[str, Any], listed: set[str], keys: Mapping[str, bytes],
                   result: PackResult) -> None:
    sample = manifest.get("sample")
    proofs = sample.get("proofs") if isinstance(sample, dict) else None
    if not isinstance(sample, dict) or not isinstance(proofs, dict):
        result.problem("manifest_malformed", "the manifest has no sample", MANIFEST_FILE)
        return
    try:
        report = json.loads((directory / REPORT_JSON).read_bytes())
        reported = report["sections"]["sample"]["event_ids"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
        reported = None
    if reported != sample.get("event_ids"):
        result.problem("sample_mismatch", "report.json samples other events than the manifest names", REPORT_JSON)
    for event_id, name in sorted(proofs.items()):
        if name is None:
            continue  # the report says why this event has no proof (not sealed yet)
        if name not in listed:
            result.problem("pack_file_missing", f"the proof of {event_id} ({name}) is not listed", MANIFEST_FILE,
                           event_id)
            continue
        try:
            document = json.loads((directory / name).read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            document = None
        checked = verify_proof(document, keys)  # the manifest's keys: a proof cannot bring its own
        if not checked.ok or checked.event_id != event_id:
            details = "; ".join(f.detail for f in checked.findings) or f"it proves event {checked.event_id}"
            result.problem("sample_proof_invalid", f"{name} does not prove {event_id}: {details}", name, event_id)
        else:
            result.proofs += 1
