"""The bundle's manifest and its signature. Pure apart from hashing files.

manifest.json lists every data file by SHA-256 and states what the bundle
holds (range, counts, anchors); manifest.sig is the pipeline key's Ed25519
signature of MANIFEST_DOMAIN || manifest.json's exact bytes. The data files
are covered through their hashes, so one signature vouches for the bundle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentaudit.chain.seal import SealSigner, SignatureCheck
from agentaudit.evidence.formats import SIGNATURE_FORMAT, FormatError, b64, manifest_signed_bytes, unb64

_CHUNK = 1 << 20


@dataclass
class AgentSummary:
    """What the bundle holds of one agent's chain; written into the manifest."""

    agent_id: str
    records: int = 0
    first_position: int | None = None
    last_position: int | None = None
    seals: int = 0
    first_seal: int | None = None
    last_seal: int | None = None
    anchor_seal: int | None = None

    def add_record(self, position: int) -> None:
        self.records += 1
        self.first_position = position if self.first_position is None else self.first_position
        self.last_position = position

    def add_seal(self, seq: int) -> None:
        self.seals += 1
        self.first_seal = seq if self.first_seal is None else self.first_seal
        self.last_seal = seq


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The manifest as written. The signature covers these bytes, not a re-serialisation,
    so a verifier never has to reproduce our JSON formatting."""
    return (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sign_manifest(data: bytes, signer: SealSigner) -> bytes:
    """manifest.sig for manifest bytes `data`, signed with the signer's current key."""
    key_id, signature = signer.sign(manifest_signed_bytes(data))
    document = {
        "format": SIGNATURE_FORMAT,
        "algorithm": "ed25519",
        "signed": "agentaudit/evidence/v1/manifest || 00 || manifest.json",
        "key_id": key_id,
        "signature": b64(signature),
    }
    return (json.dumps(document, indent=2) + "\n").encode("utf-8")


def signature_problem(
    signature_file: bytes, data: bytes, public_keys: Mapping[str, bytes], check: SignatureCheck
) -> str | None:
    """Why manifest.sig does not vouch for manifest bytes `data`, or None when it does."""
    try:
        document = json.loads(signature_file)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "manifest.sig is not JSON"
    if not isinstance(document, dict) or document.get("format") != SIGNATURE_FORMAT:
        return f"manifest.sig is not an {SIGNATURE_FORMAT} document"
    key_id = document.get("key_id")
    if not isinstance(key_id, str):
        return "manifest.sig names no key"
    try:
        signature = unb64(document.get("signature"), "manifest.sig signature")
    except FormatError as exc:
        return str(exc)
    if key_id not in public_keys:
        return f"manifest.sig is signed with key {key_id!r}, which is not among the public keys"
    if not check(public_keys, key_id, manifest_signed_bytes(data), signature):
        return f"manifest.sig does not verify with key {key_id}: manifest.json or its signature was changed"
    return None
