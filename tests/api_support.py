"""The query API on a real port in a background thread, and a small HTTP client for tests."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from agentaudit.api.server import QueryApi, serving
from agentaudit.settings import Settings


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def error(self) -> str:
        return str(self.body.get("error", "")) if isinstance(self.body, dict) else ""


class Http:
    def __init__(self, base: str) -> None:
        self.base = base

    def call(self, method: str, path: str, key: str | None = None, params: Any = None,
             body: Any = None, raw_auth: str | None = None, raw: bytes | None = None) -> Reply:
        url = self.base + urllib.parse.quote(path) + (("?" + urllib.parse.urlencode(params, doseq=True)) if params else "")
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        if raw_auth is not None:
            request.add_header("Authorization", raw_auth)
        elif key is not None:
            request.add_header("Authorization", f"Bearer {key}")
        if data is not None:
            request.add_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return Reply(response.status, json.loads(response.read()), dict(response.headers))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, json.loads(exc.read()), dict(exc.headers))

    def get(self, path: str, key: str | None = None, **params: Any) -> Reply:
        return self.call("GET", path, key, params or None)

    def post(self, path: str, key: str | None, body: Any) -> Reply:
        return self.call("POST", path, key, body=body)


@contextmanager
def running_api(settings: Settings, public_keys_document: dict[str, Any] | None = None,
                publish: Callable[[dict[str, Any]], None] | None = None) -> Iterator[Http]:
    """The API on 127.0.0.1 on a free port until the block ends."""
    from agentaudit.incident.publish import publish_entry

    api = QueryApi(settings, 2, public_keys_document, publish or (lambda entry: publish_entry(settings, entry)))
    try:
        with serving(api) as base:
            yield Http(base)
    finally:
        api.close()
