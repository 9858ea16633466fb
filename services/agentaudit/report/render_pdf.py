"""The HTML page printed to PDF by headless Chromium: one rendering engine for both, so they say the same.

Chromium runs with a throw-away profile, no sandbox (it runs as whatever
user runs the report, often root in a container), and with every background
service that could reach the network turned off; the page itself forbids
loading anything (render_html's Content-Security-Policy).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from agentaudit.errors import AgentAuditError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT_S = 180.0


class RenderError(AgentAuditError):
    """The PDF could not be made."""


class ChromiumMissing(RenderError):
    """No Chromium to print the PDF with."""


def find_chromium(configured: str = "") -> str:
    """AGENTAUDIT_CHROMIUM if set, else the first of CANDIDATES on PATH."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise ChromiumMissing(f"AGENTAUDIT_CHROMIUM={configured!r} is not an executable")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise ChromiumMissing(
        "the PDF is printed by headless Chromium, and none was found on PATH "
        f"({', '.join(CANDIDATES)}): install it (Debian/Ubuntu: apt-get install chromium) or point "
        "AGENTAUDIT_CHROMIUM at it; --format html,json needs no browser"
    )


def chromium_args(chromium: str, profile: Path) -> list[str]:
    """The command line every headless run starts with (the rendering tests use it for screenshots too)."""
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions", "--disable-default-apps",
        "--no-default-browser-check", "--force-color-profile=srgb", "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]


def run_chromium(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise RenderError(f"Chromium did not finish {what} within {TIMEOUT_S:.0f}s") from None
    if done.returncode != 0:
        raise RenderError(f"Chromium failed {what} (exit {done.returncode}): {done.stderr.strip()[-500:]}")


def render_pdf(html_file: Path, pdf_file: Path, chromium: str) -> None:
    """Print `html_file` (already written) to `pdf_file` on A4, as its print CSS lays it out."""
    with tempfile.TemporaryDirectory(prefix="agentaudit-chromium-") as profile:
        run_chromium([*chromium_args(chromium, Path(profile)), "--no-pdf-header-footer",
                      f"--print-to-pdf={pdf_file.resolve()}", html_file.resolve().as_uri()], "printing the PDF")
    if not pdf_file.is_file() or pdf_file.stat().st_size == 0:
        raise RenderError(f"Chromium exited without writing {pdf_file}")
