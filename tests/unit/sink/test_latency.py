"""End-to-end latency of stored records, and that the sink observes it once per record it stores."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from agentaudit.sink.latency import observe_end_to_end
from agentaudit.sink.rows import Row, record_row
from tests.sink_support import BASE_US, record, rejection
from tests.unit.sink.test_sink import REJECTED, FakeMessage, codec, make_sink, rec_msg


def row(fields: dict[str, Any]) -> Row:
    return record_row(codec.decode("AuditRecord", codec.encode("AuditRecord", fields)), b"")


def test_each_record_is_observed_since_emit_and_since_ingest() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("e2e_seconds", "e", ["since"], registry=registry, buckets=(1.0, 10.0, 100.0))
    early = row(record(0, ingest_us=BASE_US, agent_time=BASE_US - 2_000_000))
    ahead = row(record(1, ingest_us=BASE_US, agent_time=BASE_US + 60_000_000))  # agent clock ahead
    observe_end_to_end([early, ahead], now_s=BASE_US / 1e6 + 5, histogram=histogram)

    def count(since: str, le: str) -> float | None:
        return registry.get_sample_value("e2e_seconds_bucket", {"since": since, "le": le})

    assert registry.get_sample_value("e2e_seconds_sum", {"since": "ingest"}) == 10.0
    assert registry.get_sample_value("e2e_seconds_sum", {"since": "emit"}) == 7.0, "7 s and a skewed 0, not -55"
    assert (count("emit", "1.0"), count("emit", "10.0")) == (1, 2)


def test_the_sink_observes_stored_records_only() -> None:
    def stored(since: str) -> float:
        return REGISTRY.get_sample_value("agentaudit_pipeline_end_to_end_seconds_count", {"since": since}) or 0.0

    before = stored("emit"), stored("ingest")
    sink, _consumer, _writer = make_sink()
    for i in range(3):
        sink.handle(rec_msg(i, i))
    sink.handle(FakeMessage(REJECTED, 0, 0, codec.encode("Rejection", rejection(3))))
    assert sink.flush()
    assert (stored("emit") - before[0], stored("ingest") - before[1]) == (3, 3)
