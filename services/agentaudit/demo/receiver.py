"""A local on-call endpoint for the demo: an HTTP server that takes the alerter's webhook posts.

It stands in for a SIEM or chat webhook so the demo shows alerts arriving
end to end; it keeps the OCSF Detection Findings it receives, in memory.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class AlertReceiver:
    """Accepts POSTed JSON on 127.0.0.1 (a free port) until close()."""

    def __init__(self) -> None:
        self.findings: list[dict[str, Any]] = []
        received = self.findings
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    finding = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with lock:
                    received.append(finding)
                self.send_response(202)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the demo prints its own summary
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, name="alert-receiver", daemon=True)
        self._thread.start()

    def routes_file(self, path: Path) -> Path:
        """A routes file sending every incident (low severity and up) here, as OCSF JSON."""
        path.write_text(
            "# written by `agentaudit demo`: every incident to the demo's local receiver\n"
            f"routes:\n  - name: demo-oncall\n    kind: webhook\n    url: {self.url}\n"
            "    match:\n      min_severity: low\n      tenants: \"*\"\n",
            encoding="utf-8",
        )
        return path

    def by_severity(self) -> dict[str, int]:
        counts = Counter(str(f.get("severity", "?")).lower() for f in self.findings)
        return dict(sorted(counts.items()))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
