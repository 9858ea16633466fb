"""The benchmark run: the raw relay, then the pipeline, on one broker in one run.

Throughput is end to end with the load generator included: from the first
action emitted through the Emitter SDK to the sink's commit of the last one
(so every action is queryable in ClickHouse). Latency is measured at a fixed
rate below capacity: ClickHouse stamps each row's stored_at on insert, and the
emitter stamped agent_time when the agent acted, so stored_at - agent_time is
emitted-to-queryable for every single action.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from agentaudit.admin import ensure_topics
from agentaudit.bench.relay import preload, relay, relay_latency
from agentaudit.codec import make_codec
from agentaudit.demo.driver import Driver
from agentaudit.demo.identities import enroll
from agentaudit.demo.run import Echo, ensure_keyring, local_bootstrap, wait_until_stored
from agentaudit.demo.stack import Offsets, Service
from agentaudit.demo.workload import Act, Workload, agents
from agentaudit.settings import Settings
from agentaudit.topics import Topic


@dataclass(frozen=True)
class BenchPlan:
    events: int = 50_000
    rate: float = 1_000.0
    latency_s: float = 20.0
    processors: int = 1
    keys: str = "ed25519"  # what the agents sign with: ed25519, or hmac (the high-volume option)
    rules: str = "both"  # detection in the processor: on, off, or both (alternating: the cost of the rules)
    repeat: int = 1  # pipeline runs per rules mode; the median throughput is reported


def _relay_topics(bootstrap: str, prefix: str, partitions: int) -> tuple[str, str]:
    names = (f"{prefix}in", f"{prefix}out")
    admin = AdminClient({"bootstrap.servers": bootstrap})  # must outlive its futures
    for future in admin.create_topics([NewTopic(n, partitions, 1) for n in names]).values():
        future.result()
    return names


def _sample_values(settings: Settings, count: int) -> list[tuple[bytes, bytes]]:
    """Encoded actions like the workload's, for the relay (which never decodes them)."""
    codec = make_codec(settings)
    steps = [s for s in Workload(agents(6), bad_ratio=0.0).plan(min(count, 1000)) if isinstance(s, Act)]
    encoded = []
    for i, step in enumerate(steps):
        action = {"event_id": str(uuid.uuid4()), "agent_id": step.agent.agent_id, "session_id": "bench",
                  "sequence": i + 1, "tenant_id": step.agent.tenant_id,
                  "principal": {"type": "user", "id": step.principal}, "action_type": step.action_type,
                  "outcome": "success", "agent_time": time.time_ns() // 1000}
        encoded.append((step.agent.agent_id.encode(), codec.encode("AgentAction", action)))
    return [encoded[i % len(encoded)] for i in range(count)]


def run_bench(settings: Settings, plan: BenchPlan, echo: Echo) -> dict[str, Any]:
    bootstrap, restore_kafka = local_bootstrap(settings, echo)
    run = uuid.uuid4().hex[:6]
    settings = settings.with_changes(kafka_bootstrap=bootstrap, topic_prefix=f"bench{run}.",
                                     home=settings.home / "bench")
    result: dict[str, Any] = {"events": plan.events, "rate": plan.rate, "processors": plan.processors,
                              "keys": plan.keys}
    try:
        source, target = _relay_topics(bootstrap, f"{settings.topic_prefix}relay.", settings.partitions)
        values = _sample_values(settings, plan.events)
        preload(bootstrap, source, values)
        seconds = relay(bootstrap, source, target, plan.events)
        result["relay_throughput"] = plan.events / seconds
        echo(f"relay: {result['relay_throughput']:,.0f} events/s")
        paced = _sample_values(settings, int(plan.rate * plan.latency_s))
        # Fresh topics: the latency run must not read the throughput run's messages.
        source, target = _relay_topics(bootstrap, f"{settings.topic_prefix}paced.", settings.partitions)
        result["relay_latency"] = relay_latency(bootstrap, source, target, paced, plan.rate)
        echo(f"relay: latency at {plan.rate:,.0f}/s p50 {result['relay_latency']['p50'] * 1000:.0f} ms")
        modes = ("off", "on") if plan.rules == "both" else (plan.rules,)
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        # Alternating off, on, off, on …: a machine that slows down or warms up
        # during the benchmark then weighs on both alike.
        for n in range(plan.repeat):
            for mode in modes:
                echo(f"pipeline with detection rules {mode} (run {n + 1} of {plan.repeat}):")
                run_settings = settings.with_changes(topic_prefix=f"{settings.topic_prefix}{mode}{n}.",
                                                     detect_rules="packaged" if mode == "on" else "off")
                runs[mode].append(_pipeline(run_settings, plan, echo))
        for mode, done in runs.items():
            ranked = sorted(done, key=lambda r: r["pipeline_throughput"])
            result[f"rules_{mode}"] = {**ranked[len(ranked) // 2],
                                       "throughputs": [r["pipeline_throughput"] for r in done]}
    finally:
        restore_kafka()
    main = result["rules_on"] if "rules_on" in result else result[f"rules_{modes[0]}"]
    result.update(main)  # the headline figures: with the rules, as the pipeline runs by default
    result["ratio"] = result["pipeline_throughput"] / result["relay_throughput"]
    if plan.rules == "both":
        result["rules_cost"] = 1 - result["rules_on"]["pipeline_throughput"] / result["rules_off"]["pipeline_throughput"]
    return result


def _pipeline(settings: Settings, plan: BenchPlan, echo: Echo) -> dict[str, Any]:
    ensure_topics(settings, settings.kafka_bootstrap)
    services = [Service(f"processor-{i + 1}", ["process"], settings) for i in range(plan.processors)]
    services.append(Service("sink", ["sink"], settings))
    offsets = Offsets(settings.kafka_bootstrap, settings.partitions)
    codec = make_codec(settings)
    topic = settings.topic(Topic.ACTIONS)
    profiles = agents(8)
    out: dict[str, Any] = {}
    ensure_keyring(settings, echo)
    signers = enroll(settings, settings.kafka_bootstrap, profiles, echo,
                     hmac_agents=len(profiles) if plan.keys == "hmac" else 0)
    try:
        for service in services:
            service.start()
        warm = Driver(settings.kafka_bootstrap, topic, codec, signers)
        warm.run(Workload(profiles, 0.0, seed=1).plan(200))
        warm.close()
        wait_until_stored(offsets, settings, services, 120, lambda _line: None)
        echo(f"pipeline: warmed up; emitting {plan.events:,} actions as fast as the emitters go")
        driver = Driver(settings.kafka_bootstrap, topic, codec, signers)
        started = time.perf_counter()
        driver.run(Workload(profiles, 0.0, seed=2).plan(plan.events))
        driver.close()
        wait_until_stored(offsets, settings, services, 1800, echo)
        out["pipeline_throughput"] = plan.events / (time.perf_counter() - started)
        echo(f"pipeline: {out['pipeline_throughput']:,.0f} events/s end to end")
        latency_from = datetime.now(UTC)
        paced = Driver(settings.kafka_bootstrap, topic, codec, signers)
        paced.run(Workload(profiles, 0.0, seed=3).plan(int(plan.rate * plan.latency_s)), plan.rate)
        paced.close()
        wait_until_stored(offsets, settings, services, 600, echo)
    finally:
        offsets.close()
        for service in reversed(services):
            service.stop()
    out["pipeline_latency"] = _stored_latency(settings, latency_from)
    return out


def _stored_latency(settings: Settings, since: datetime) -> dict[str, float]:
    from agentaudit.store.client import connect

    client = connect(settings)
    try:
        row = client.query(
            "SELECT quantiles(0.5, 0.99)(lag), max(lag), count() FROM ("
            " SELECT (toUnixTimestamp64Milli(stored_at) - intDiv(toUnixTimestamp64Micro(agent_time), 1000)) / 1000 AS lag"
            f" FROM {settings.clickhouse_database}.audit_records WHERE ingest_time >= {{since:DateTime64(6)}})",
            parameters={"since": since},
        ).result_rows[0]
    finally:
        client.close()
    (p50, p99), worst, count = row
    return {"p50": float(p50), "p99": float(p99), "max": float(worst), "n": int(count)}
