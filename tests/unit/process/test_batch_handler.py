from __future__ import annotations

import hashlib
from typing import Any

import pytest
from confluent_kafka import Producer

from agentaudit.codec import SingleObjectCodec
from agentaudit.metrics import PROCESS_REJECTION_ALARM
from agentaudit.process.app import BatchHandler
from agentaudit.process.chaining import ChainStage
from agentaudit.process.state_store import StateStore
from agentaudit.settings import Settings
from tests.avro_support import action
from tests.chain_support import TestSigner
from tests.identity_support import NoSecrets, StaticRegistry, signed
from tests.unit.process.test_validate import INGEST_MS, message


def encoded(**overrides: Any) -> bytes:
    """A signed action of the registered agent-1."""
    return SingleObjectCodec().encode("AgentAction", signed(action(agent_time=INGEST_MS * 1000 - 1500, **overrides)))


class RecordEncodingFails(SingleObjectCodec):
    """A codec with a bug that only shows when an AuditRecord is framed."""

    def header(self, name: str) -> bytes:
        if name == "AuditRecord":
            raise KeyError("chain")
        return super().header(name)


def handler(codec: SingleObjectCodec) -> BatchHandler:
    settings = Settings(topic_prefix="p.")
    producer = Producer({"bootstrap.servers": "127.0.0.1:9"})  # never reached: render() does no I/O
    return BatchHandler(settings, codec, producer, StateStore(settings, "127.0.0.1:9", producer), TestSigner(),
                        StaticRegistry("agent-1"), NoSecrets())


def stage(h: BatchHandler) -> ChainStage:
    return ChainStage(0, {}, -1, h.policy, h.seal_form, h.signer)


def test_a_record_goes_to_records_and_a_rejection_to_rejected() -> None:
    h = handler(SingleObjectCodec())
    s = stage(h)
    assert h.render(message(encoded()), s)[0] == "p.audit.records"
    assert h.render(message(b"junk", offset=43), s)[0] == "p.audit.rejected"


def test_a_stored_record_is_its_canonical_bytes_then_its_chain_link() -> None:
    codec = SingleObjectCodec()
    h = handler(codec)
    topic, value, _ = h.render(message(encoded()), stage(h))
    record = codec.decode("AuditRecord", value)
    assert value == codec.encode("AuditRecord", record), "hand-framed value differs from the codec's encoding"
    link = record["chain"]
    assert link["position"] == 1
    body = value[len(codec.header("AuditRecord")):]
    canonical = h.record_form.encode(record)
    assert body.startswith(canonical)
    assert hashlib.sha256(link["prev_hash"] + canonical).digest() == link["hash"]


def test_an_input_already_applied_before_a_restart_is_skipped() -> None:
    h = handler(SingleObjectCodec())
    s = stage(h)
    assert h.render(message(encoded()), s)[0] == "p.audit.records"
    assert h.render(message(encoded()), s)[0] is None  # same offset 42 again


def test_an_unexpected_error_rejects_that_input_with_its_bytes_instead_of_stopping() -> None:
    codec = RecordEncodingFails()
    value = encoded()
    h = handler(codec)
    s = stage(h)
    topic, out, _ = h.render(message(value), s)
    assert s.states == {}, "the chain moved for a record that was not written"
    assert topic == "p.audit.rejected"
    rejection = codec.decode("Rejection", out)
    assert rejection["reason_code"] == "processing_error"
    assert "KeyError" in rejection["reason"]
    assert rejection["original"] == value
    assert rejection["source"]["offset"] == 42


@pytest.mark.parametrize(("size", "rejected", "alarm"), [(200, 150, 1.0), (200, 20, 0.0), (50, 50, 0.0)])
def test_rejection_alarm_needs_a_full_batch_over_the_ratio(size: int, rejected: int, alarm: float) -> None:
    PROCESS_REJECTION_ALARM.set(0)
    handler(SingleObjectCodec())._check_alarm(size, rejected)
    assert PROCESS_REJECTION_ALARM._value.get() == alarm
