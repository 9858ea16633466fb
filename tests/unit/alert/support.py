"""Test helpers for the alerter: Incident v2 entries, a real HTTP receiver that
fails on cue, and in-memory stand-ins for the Kafka consumer and producer."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BASE_US = (int(time.time()) - 600) * 1_000_000


def incident(change: str = "opened", *, severity: str = "high", tenant: str = "acme", version: int = 1,
             incident_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An Incident v2 timeline entry, as the detection stage or a person writes it."""
    status = {"opened": "open", "hits": "open", "acknowledged": "acknowledged",
              "contained": "contained", "resolved": "resolved"}[change]
    entry: dict[str, Any] = {
        "incident_id": incident_id or str(uuid.uuid4()),
        "version": version,
        "tenant_id": tenant,
        "agent_id": "agent-7",
        "rule_id": "integrity.bad_signature",
        "severity": severity,
        "title": "Forged or altered action: bad signature for agent agent-7",
        "status": status,
        "first_seen": BASE_US,
        "last_seen": BASE_US + 5_000_000,
        "hit_count": 3,
        "event_ids": ["e-1", "e-2", "e-3"],
        "change": change,
        "changed_at": BASE_US + 5_000_000 + version,
        "owner": "alice" if change != "opened" else None,
        "risk_score": 90,
        "contain": False,
        "actor": "pipeline" if change in ("opened", "hits") else "alice",
        "note": "looking into it" if change == "acknowledged" else None,
        "detail": json.dumps({"kind": "bad_signature", "reason": "signature does not verify"}),
    }
    entry.update(overrides)
    return entry


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    at: float


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that answers `fail_status` to the first
    `failures` requests, then `ok_status`; every request is kept. port 0
    picks a free port; a given one is bound now (for "not listening yet",
    create the Receiver later)."""

    port: int = 0
    failures: int = 0
    fail_status: int = 503
    ok_status: int = 200
    echo_on_failure: bool = False  # a sloppy receiver that puts the request's headers in its error page
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    failing = sum(1 for r in receiver.requests if r.status == receiver.fail_status) < receiver.failures
                    status = receiver.fail_status if failing else receiver.ok_status
                    receiver.requests.append(Received(self.path, dict(self.headers), body, status, time.monotonic()))
                reply = b"ok"
                if failing and receiver.echo_on_failure:
                    echoed = [self.headers.get("Authorization"), body.get("routing_key") if isinstance(body, dict) else None]
                    reply = f"refused credentials {echoed}".encode()
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self._where = (topic, partition, offset)
        self._value = value

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


class FakeConsumer:
    """Hands out the queued messages once; keeps every commit."""

    def __init__(self, messages: list[FakeMessage]) -> None:
        self.messages = list(messages)
        self.commits: list[dict[tuple[str, int], int]] = []
        self.paused = False
        self.closed = False

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        self.topics = topics

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        if self.paused or not self.messages:
            time.sleep(min(timeout, 0.01))
            return []
        out, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return out

    def commit(self, offsets: list[Any], asynchronous: bool) -> None:
        self.commits.append({(o.topic, o.partition): o.offset for o in offsets})

    def committed_position(self, topic: str, partition: int) -> int | None:
        for commit in reversed(self.commits):
            if (topic, partition) in commit:
                return commit[(topic, partition)]
        return None

    def assignment(self) -> list[Any]:
        return [object()]  # what pause() and resume() are given; the fake pauses everything

    def pause(self, partitions: list[Any]) -> None:
        self.paused = True

    def resume(self, partitions: list[Any]) -> None:
        self.paused = False

    def close(self) -> None:
        self.closed = True


class FakeProducer:
    """Keeps produced messages; delivery reports fire on poll()/flush(), like librdkafka's."""

    def __init__(self) -> None:
        self.produced: list[tuple[str, bytes, bytes]] = []
        self._reports: list[Callable[[Any, Any], None]] = []
        self._lock = threading.Lock()

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Callable[[Any, Any], None]) -> None:
        with self._lock:
            self.produced.append((topic, key, value))
            self._reports.append(on_delivery)

    def poll(self, timeout: float) -> int:
        with self._lock:
            reports, self._reports = self._reports, []
        for report in reports:
            report(None, None)
        if not reports and timeout:
            time.sleep(timeout)
        return len(reports)

    def flush(self, timeout: float) -> int:
        self.poll(0)
        return 0
