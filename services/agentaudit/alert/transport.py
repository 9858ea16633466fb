"""One HTTP attempt and what its outcome means for the alert.

Standard library only (urllib.request), a timeout on every request, TLS
verification on for https. Redirects are not followed: urllib would turn a
redirected POST into a GET without a body and call it delivered.

| outcome                                              | status    |
|------------------------------------------------------|-----------|
| 2xx                                                  | delivered |
| connection refused or reset, DNS, timeout, 408, 429, 5xx | retrying (the receiver or the network may recover) |
| 3xx and any other 4xx                                | failed (sending the same request again cannot help) |
"""

from __future__ import annotations

import enum
import http.client
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import IO

from agentaudit.alert.payloads import Request
from agentaudit.alert.routes import Route

RETRY_STATUSES = frozenset({408, 429})
ERROR_MAX_CHARS = 200  # a short reason in records and logs, never a whole error page


class Status(enum.StrEnum):
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    """What one POST came to; error is short and already scrubbed of the route's secrets."""

    status: Status
    http_status: int | None
    error: str | None
    latency_ms: int
    retry_after_s: float | None = None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
                         headers: Message, newurl: str) -> urllib.request.Request | None:
        return None  # urllib then raises HTTPError with the 3xx status


def classify(http_status: int) -> Status:
    if 200 <= http_status < 300:
        return Status.DELIVERED
    if http_status in RETRY_STATUSES or http_status >= 500:
        return Status.RETRYING
    return Status.FAILED


def post(route: Route, request: Request) -> Attempt:
    """POST the request once; never raises for anything the network or the receiver does."""
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=route.ssl_context)
    )
    req = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers), method="POST")
    started = time.monotonic()

    def done(status: Status, http_status: int | None, error: str | None, retry_after: float | None = None) -> Attempt:
        short = None if error is None else route.redact(error)[:ERROR_MAX_CHARS]
        return Attempt(status, http_status, short, int((time.monotonic() - started) * 1000), retry_after)

    try:
        with opener.open(req, timeout=route.timeout_s) as response:
            code = int(response.status)
            response.read(64 * 1024)  # drain, so the connection closes cleanly
        return done(classify(code), code, None if 200 <= code < 300 else f"HTTP {code}")
    except urllib.error.HTTPError as exc:
        body = _read_quietly(exc)
        reason = f"HTTP {exc.code} {exc.reason}" + (f": {body}" if body else "")
        if 300 <= exc.code < 400:
            reason = f"HTTP {exc.code}: redirect not followed; configure the final URL"
        return done(classify(exc.code), exc.code, reason, _retry_after(exc.headers))
    except urllib.error.URLError as exc:
        return done(Status.RETRYING, None, f"{type(exc.reason).__name__}: {exc.reason}")
    except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
        return done(Status.RETRYING, None, f"{type(exc).__name__}: {exc}")


def _read_quietly(exc: urllib.error.HTTPError) -> str:
    # Read well past what is kept: the route's secrets are scrubbed before the
    # text is cut, and a secret cut in half by the read would escape that.
    try:
        return " ".join(exc.read(16 * ERROR_MAX_CHARS).decode("utf-8", "replace").split())
    except (OSError, http.client.HTTPException):
        return ""


def _retry_after(headers: Message | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for webhooks and ignored)."""
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
