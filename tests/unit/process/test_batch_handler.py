from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Producer

from agentaudit.codec import SingleObjectCodec
from agentaudit.metrics import PROCESS_REJECTION_ALARM
from agentaudit.process.app import BatchHandler
from agentaudit.settings import Settings
from tests.unit.process.test_validate import encoded, message


class RecordEncodingFails(SingleObjectCodec):
    """A codec with a bug that only shows when an AuditRecord is written."""

    def encode(self, name: str, datum: dict[str, Any]) -> bytes:
        if name == "AuditRecord":
            raise KeyError("chain")
        return super().encode(name, datum)


def handler(codec: SingleObjectCodec) -> BatchHandler:
    return BatchHandler(Settings(topic_prefix="p."), codec, Producer({"bootstrap.servers": "127.0.0.1:9"}))


def test_a_record_goes_to_records_and_a_rejection_to_rejected() -> None:
    h = handler(SingleObjectCodec())
    assert h.render(message(encoded()))[0] == "p.audit.records"
    assert h.render(message(b"junk"))[0] == "p.audit.rejected"


def test_an_unexpected_error_rejects_that_input_with_its_bytes_instead_of_stopping() -> None:
    codec = RecordEncodingFails()
    value = encoded()
    topic, out = handler(codec).render(message(value))
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
