"""The pack's format name and file names, shared by the writer and the offline verifier. No imports of
anything that talks to a database: `agentaudit verify --bundle` must run with none installed."""

from __future__ import annotations

import re

PACK_FORMAT = "agentaudit-report-pack/v1"
REPORT_JSON, REPORT_HTML, REPORT_PDF, KEYS_FILE = "report.json", "report.html", "report.pdf", "public-keys.json"
MANIFEST_FILE, SIGNATURE_FILE = "manifest.json", "manifest.sig"
FILE_NAME = re.compile(r"^(report\.(json|html|pdf)|public-keys\.json|samples/[A-Za-z0-9][A-Za-z0-9._-]*\.proof\.json)$")
"""Every name a pack may list: a verifier opens nothing else, so a manifest cannot point it outside the pack."""
