"""The processor's own metrics: stage timings, seal lag and incident counts."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram

from agentaudit.codec import SingleObjectCodec
from agentaudit.process.seal_lag import SealLag
from agentaudit.process.timing import StageClock
from tests.avro_support import action
from tests.unit.process.test_batch_handler import encoded, handler, stage
from tests.unit.process.test_validate import INGEST_MS, message


def stage_count(stage_name: str) -> float:
    return REGISTRY.get_sample_value("agentaudit_process_stage_seconds_count", {"stage": stage_name}) or 0.0


def test_each_lap_is_observed_under_the_stage_that_just_ended() -> None:
    registry = CollectorRegistry()
    histogram = Histogram("t_seconds", "t", ["stage"], registry=registry, buckets=(1e-5, 1.0))
    clock = StageClock(histogram)
    clock.start()
    clock.lap("validate")
    clock.lap("chain")
    clock.lap("chain")
    assert registry.get_sample_value("t_seconds_count", {"stage": "validate"}) == 1
    assert registry.get_sample_value("t_seconds_count", {"stage": "chain"}) == 2
    assert 0 < (registry.get_sample_value("t_seconds_sum", {"stage": "chain"}) or 0) < 1.0


def test_render_times_validate_attribute_and_chain_for_a_record() -> None:
    h = handler(SingleObjectCodec())
    before = {s: stage_count(s) for s in ("validate", "attribute", "chain")}
    assert h.render(message(encoded()), stage(h))[0] == "p.audit.records"
    assert {s: stage_count(s) - n for s, n in before.items()} == {"validate": 1, "attribute": 1, "chain": 1}


def test_an_input_rejected_by_validation_is_timed_in_validate_only() -> None:
    h = handler(SingleObjectCodec())
    before = {s: stage_count(s) for s in ("validate", "attribute", "chain")}
    assert h.render(message(b"junk"), stage(h))[0] == "p.audit.rejected"
    assert {s: stage_count(s) - n for s, n in before.items()} == {"validate": 1, "attribute": 0, "chain": 0}


def test_attribution_incidents_count_as_incidents_by_source_severity_and_change() -> None:
    labels = {"source": "attribution", "severity": "medium", "change": "opened"}
    before = REGISTRY.get_sample_value("agentaudit_incidents_total", labels) or 0.0
    unsigned = SingleObjectCodec().encode("AgentAction", action(agent_time=INGEST_MS * 1000 - 1500))
    h = handler(SingleObjectCodec())
    assert h.render(message(unsigned), stage(h))[0] == "p.audit.rejected"
    assert [i["rule_id"] for i in h._incidents] == ["integrity.unsigned"]
    assert REGISTRY.get_sample_value("agentaudit_incidents_total", labels) == before + 1


# --- seal lag ----------------------------------------------------------------


def seal_lag(now_s: list[float]) -> tuple[SealLag, Any]:
    registry = CollectorRegistry()
    gauge = Gauge("lag_seconds", "l", registry=registry)
    return SealLag(gauge, clock=lambda: now_s[0]), lambda: registry.get_sample_value("lag_seconds")


def source(offset: int) -> dict[str, Any]:
    return {"topic": "agent.actions", "partition": 0, "offset": offset}


def test_seal_lag_is_the_age_of_the_oldest_unsealed_record_until_it_is_sealed() -> None:
    h = handler(SingleObjectCodec())
    chains = stage(h)  # seals every 300 s (Settings' default), every 1000 records
    t0 = INGEST_MS * 1000
    chains.link("agent-1", "acme", b"r1", t0, source(1))
    chains.link("agent-2", "acme", b"r2", t0 + 20_000_000, source(2))
    now = [t0 / 1e6 + 30]
    lag, read = seal_lag(now)
    assert read() == 0.0, "nothing reported yet: nothing waits"
    lag.update(0, chains.states.values())
    assert read() == 30.0
    now[0] += 100
    assert read() == 130.0, "computed when scraped: grows while nothing calls update()"

    # a time seal covers both agents' records (period end reached at an input 300 s later)
    seals = chains.advance(t0 + 301_000_000, source(3))
    assert {s.datum["agent_id"] for s in seals} == {"agent-1", "agent-2"}
    lag.update(0, chains.states.values())
    assert read() == 0.0


def test_seal_lag_is_the_max_over_partitions_and_forgets_revoked_ones() -> None:
    h = handler(SingleObjectCodec())
    old, new = stage(h), stage(h)
    t0 = INGEST_MS * 1000
    old.link("agent-1", "acme", b"r", t0, source(1))
    new.link("agent-2", "acme", b"r", t0 + 50_000_000, source(1))
    now = [t0 / 1e6 + 60]
    lag, read = seal_lag(now)
    lag.update(0, old.states.values())
    lag.update(1, new.states.values())
    assert read() == 60.0
    lag.forget(0)  # partition 0 moved to another worker, which reports it now
    assert read() == 10.0
    lag.forget(1)
    assert read() == 0.0


def test_the_handler_exports_the_seal_interval_for_the_alert_rule() -> None:
    handler(SingleObjectCodec())
    assert REGISTRY.get_sample_value("agentaudit_process_seal_interval_seconds") == 300.0
