"""The emitter never stalls the agent beyond its policy and never drops an
event silently. A broker address nobody listens on keeps every event in the
buffer, which is exactly the situation the policies exist for."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError

from agentaudit.emit import RAISE, BufferFull, Emitter, EmitterClosed, EmitterFull, Principal
from agentaudit.metrics import EMIT_BUFFER_FULL

NOWHERE = "127.0.0.1:9"  # the discard port: nothing answers Kafka there


def stuck_emitter(**options: object) -> Emitter:
    return Emitter(NOWHERE, "agent-1", "acme", buffer_max=5, delivery_timeout_s=1.0, kill_switch=False,
                   **options)  # type: ignore[arg-type]


def raised() -> float:
    return EMIT_BUFFER_FULL.labels(result="raised")._value.get()  # type: ignore[no-any-return]


def test_raise_policy_refuses_at_once_when_the_buffer_is_full() -> None:
    emitter = stuck_emitter(on_full=RAISE)
    session = emitter.session(Principal("user", "alice"))
    for _ in range(5):
        session.emit("tool_call")
    before = raised()
    started = time.monotonic()
    with pytest.raises(EmitterFull, match="not accepted"):
        session.emit("tool_call")
    assert time.monotonic() - started < 0.5
    assert raised() == before + 1
    with pytest.raises(EmitterClosed, match="unacknowledged|failed"):
        emitter.close(timeout_s=3.0)


def test_block_policy_waits_its_bound_then_raises() -> None:
    emitter = stuck_emitter(on_full=BufferFull(block_s=0.3))
    session = emitter.session(Principal("user", "alice"))
    for _ in range(5):
        session.emit("tool_call")
    started = time.monotonic()
    with pytest.raises(EmitterFull):
        session.emit("tool_call")
    assert 0.3 <= time.monotonic() - started < 2.0
    with pytest.raises(EmitterClosed):
        emitter.close(timeout_s=3.0)


def test_undelivered_events_are_reported_and_close_says_so() -> None:
    failures: list[tuple[str, KafkaError]] = []
    emitter = stuck_emitter(on_delivery_error=lambda event_id, error: failures.append((event_id, error)))
    sent = [emitter.session(Principal("user", "alice")).emit("tool_call") for _ in range(3)]
    with pytest.raises(EmitterClosed, match="3 failed"):
        emitter.close(timeout_s=5.0)
    assert sorted(event_id for event_id, _ in failures) == sorted(sent)
    with pytest.raises(EmitterClosed):
        emitter.session(Principal("user", "alice")).emit("tool_call")
