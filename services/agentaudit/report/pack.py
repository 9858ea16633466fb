"""Writes the evidence pack: a directory of report files, sample proofs, public keys and a signed manifest.

    report.json                 always: the gathered document
    report.html, report.pdf     per --format
    samples/<event>.proof.json  each sampled action's inclusion proof (`agentaudit verify --proof` checks one)
    public-keys.json            the pipeline's public keys (`agentaudit keys export-public`)
    manifest.json               every file above by SHA-256, the window and the sample
    manifest.sig                the pipeline key's signature of manifest.json, as for evidence bundles

The manifest and its signature are the evidence-bundle ones
(agentaudit.evidence.manifest; schemas/chain.md), under a format name of
their own, so `agentaudit verify --bundle DIR` checks a pack offline.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentaudit.chain.seal import SealSigner
from agentaudit.evidence.export import prepare_directory
from agentaudit.evidence.manifest import file_sha256, manifest_bytes, sign_manifest
from agentaudit.report.formats import (
    KEYS_FILE,
    MANIFEST_FILE,
    PACK_FORMAT,
    REPORT_HTML,
    REPORT_JSON,
    REPORT_PDF,
    SIGNATURE_FILE,
)
from agentaudit.report.gather import Gathered
from agentaudit.report.render_html import render_html
from agentaudit.report.render_pdf import render_pdf

FORMATS = ("html", "pdf", "json")


def parse_formats(values: Iterable[str]) -> tuple[str, ...]:
    """--format values, repeated or comma-separated, in FORMATS order; json is always written."""
    wanted = {part.strip().lower() for value in values for part in value.split(",") if part.strip()}
    unknown = wanted - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format {', '.join(sorted(unknown))}; formats: {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in wanted | {"json"})


@dataclass(frozen=True)
class Written:
    directory: Path
    files: list[dict[str, Any]]
    key_id: str


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def write_pack(out: Path, gathered: Gathered, formats: tuple[str, ...], signer: SealSigner,
               public_keys_document: Mapping[str, Any], chromium: str | None,
               progress: Callable[[str], None] = lambda _: None) -> Written:
    """Write the pack into `out` (new or empty); chromium: its path, needed only for the pdf format."""
    prepare_directory(out)
    document = gathered.document
    contents: dict[str, bytes] = {REPORT_JSON: _json_bytes(document), KEYS_FILE: _json_bytes(public_keys_document)}
    contents.update((name, _json_bytes(proof)) for name, proof in gathered.proofs.items())
    if "html" in formats or "pdf" in formats:
        progress("rendering HTML")
        contents[REPORT_HTML] = render_html(document).encode("utf-8")
    (out / "samples").mkdir()
    for name, data in contents.items():
        if name != REPORT_HTML or "html" in formats:
            (out / name).write_bytes(data)
    if "pdf" in formats:
        assert chromium is not None, "the pdf format needs chromium"
        progress("printing the PDF with headless Chromium")
        with tempfile.TemporaryDirectory(prefix="agentaudit-report-") as scratch:
            page = Path(scratch) / REPORT_HTML  # the page Chromium prints, whether or not the pack keeps it
            page.write_bytes(contents[REPORT_HTML])
            render_pdf(page, out / REPORT_PDF, chromium)
    names = sorted(n for n in [*contents, REPORT_PDF] if (out / n).is_file())
    files = [{"name": n, "sha256": file_sha256(out / n), "bytes": (out / n).stat().st_size} for n in names]
    sample = document["sections"]["sample"]
    manifest = {
        "format": PACK_FORMAT,
        "generator": document["generator"],
        "generated_at": document["generated_at"],
        "window": document["window"],
        "sample": {"n": sample["n"], "seed": sample["seed"], "event_ids": sample["event_ids"],
                   "proofs": {c["event_id"]: c["custody"]["proof_file"] for c in sample["chains"]}},
        "files": files,
    }
    data = manifest_bytes(manifest)
    signature = sign_manifest(data, signer)
    (out / MANIFEST_FILE).write_bytes(data)
    (out / SIGNATURE_FILE).write_bytes(signature)
    return Written(out, files, json.loads(signature)["key_id"])
