"""The demo: local broker, processor and sink, a simulated workload, a summary.

Everything it starts it stops again, also on Ctrl-C; the data stays under
HOME (var/ by default), so queries work afterwards and a second run adds to it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaException

from agentaudit.codec import make_codec
from agentaudit.demo.driver import Driver
from agentaudit.demo.identities import enroll
from agentaudit.demo.stack import Offsets, Service
from agentaudit.demo.receiver import AlertReceiver
from agentaudit.demo.workload import AgentProfile, Workload, agents
from agentaudit.errors import AgentAuditError
from agentaudit.settings import Settings
from agentaudit.signing import Signer
from agentaudit.topics import Topic

Echo = Callable[[str], None]


@dataclass(frozen=True)
class DemoPlan:
    events: int = 20_000
    agents: int = 6
    bad_ratio: float = 0.02
    rate: float = 0.0
    seed: int = 7
    timeout_s: float = 300.0
    seal_interval_s: float = 5.0  # short, so every chain is sealed before the demo ends


class DemoFailed(AgentAuditError):
    """A service died or the pipeline did not catch up in time."""


def local_bootstrap(settings: Settings, echo: Echo) -> tuple[str, Callable[[], None]]:
    """The broker to use, and how to put things back as they were afterwards."""
    if settings.kafka_bootstrap:
        return settings.kafka_bootstrap, lambda: None
    from agentaudit.dev.kafka import LocalKafka

    kafka = LocalKafka(settings)
    was_running = kafka.status() is not None
    echo("kafka: reusing the running local broker" if was_running else "kafka: starting a local broker (KRaft, official jars)…")
    bootstrap = kafka.up()
    echo(f"kafka: ready on {bootstrap}")

    def restore() -> None:
        if not was_running:
            kafka.down()

    return bootstrap, restore


def check_alive(services: list[Service]) -> None:
    """DemoFailed, with its log's tail, if any service has exited."""
    for service in services:
        if service.exit_code() is not None:
            raise DemoFailed(f"{service.name} exited with {service.exit_code()}:\n{service.log_tail()}")


def wait_until_stored(
    offsets: Offsets, settings: Settings, services: list[Service], timeout_s: float, echo: Echo
) -> None:
    """Block until the processor and then the sink have committed everything."""
    actions = settings.topic(Topic.ACTIONS)
    stored = [settings.topic(t) for t in (Topic.RECORDS, Topic.REJECTED, Topic.INCIDENTS, Topic.ALERTS)]
    processor_group = f"{settings.topic_prefix}agentaudit-processor"
    sink_group = f"{settings.topic_prefix}agentaudit-sink"
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        check_alive(services)
        try:
            todo = offsets.end(actions) - offsets.committed(processor_group, actions)
            unstored = sum(offsets.end(t) - offsets.committed(sink_group, t) for t in stored)
        except KafkaException:
            # e.g. NOT_COORDINATOR while a group coordinator loads, which
            # librdkafka does not flag retriable; the deadline bounds the wait.
            time.sleep(0.5)
            continue
        line = f"  pipeline: {todo} actions left to process, {unstored} outputs left to store"
        if line != last:
            echo(line)
            last = line
        if todo == 0 and unstored == 0:
            return
        time.sleep(1.0)
    raise DemoFailed(f"the pipeline did not catch up within {timeout_s:.0f}s; see the logs under {settings.home / 'logs'}")


def ensure_keyring(settings: Settings, echo: Echo) -> None:
    """The pipeline's signing key, created on first use with a development KEK if none is configured."""
    from agentaudit.crypto import dev_kek_path, generate_dev_kek
    from agentaudit.keyring import Keyring, keyring_path

    if keyring_path(settings).exists():
        return
    if not (settings.kek or settings.kek_file or dev_kek_path(settings).exists()):
        echo(f"keys: wrote a development KEK to {generate_dev_kek(settings)} (local use only: production takes "
             "AGENTAUDIT_KEK_FILE from a secret manager)")
    echo(f"keys: created the pipeline signing key {Keyring.create(settings).current_key_id}")


def wait_until_sealed(
    offsets: Offsets, settings: Settings, services: list[Service], timeout_s: float, echo: Echo
) -> None:
    """Wait out one sealing period and a tick, so the last records are sealed too, then for the seals to be stored."""
    from agentaudit.process.app import tick_interval_s

    echo(f"  waiting {settings.seal_interval_s + tick_interval_s(settings):.0f}s for the closing seals of every chain")
    time.sleep(settings.seal_interval_s + tick_interval_s(settings))
    seals, group = settings.topic(Topic.SEALS), f"{settings.topic_prefix}agentaudit-sink"
    _wait_until_caught_up(lambda: offsets.end(seals) - offsets.committed(group, seals), services, timeout_s,
                          f"the seals were not stored within {timeout_s:.0f}s", settings)


def wait_until_alerted(
    offsets: Offsets, settings: Settings, services: list[Service], timeout_s: float, echo: Echo
) -> None:
    """Wait for containment and the alerter to have handled every incident entry, and the sink to store it all."""
    incidents, alerts = settings.topic(Topic.INCIDENTS), settings.topic(Topic.ALERTS)
    groups = [f"{settings.topic_prefix}agentaudit-{name}" for name in ("containment", "alert", "sink")]

    def behind() -> int:
        return (sum(offsets.end(incidents) - offsets.committed(group, incidents) for group in groups)
                + offsets.end(alerts) - offsets.committed(groups[-1], alerts))

    _wait_until_caught_up(behind, services, timeout_s, f"incidents were not all handled within {timeout_s:.0f}s",
                          settings)


def _wait_until_caught_up(behind: Callable[[], int], services: list[Service], timeout_s: float, failure: str,
                          settings: Settings) -> None:
    """Poll behind() until it is 0, or raise DemoFailed(failure) after timeout_s; a dead service fails at once."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        check_alive(services)
        try:
            if behind() == 0:
                return
        except KafkaException:  # a coordinator still loading: ask again
            pass
        time.sleep(0.5)
    raise DemoFailed(f"{failure}; see the logs under {settings.home / 'logs'}")


def run_demo(settings: Settings, plan: DemoPlan, echo: Echo) -> dict[str, Any]:
    """Run the demo; returns the summary of what landed."""
    ensure_keyring(settings, echo)
    bootstrap, restore_kafka = local_bootstrap(settings, echo)
    settings = settings.with_changes(kafka_bootstrap=bootstrap, seal_interval_s=plan.seal_interval_s)
    receiver = AlertReceiver()
    routes = receiver.routes_file(settings.home / "demo-alert-routes.yaml")
    services = [Service("processor", ["process"], settings), Service("sink", ["sink"], settings),
                Service("containment", ["containment"], settings),
                Service("alert", ["alert", "--routes", str(routes)], settings)]
    kill_switch: dict[str, Any] = {}
    try:
        from agentaudit.admin import ensure_topics

        ensure_topics(settings, bootstrap)
        for service in services:
            service.start()
            echo(f"{service.name}: started (pid {service.pid}, log {service.log_path})")
        started = datetime.now(UTC) - timedelta(seconds=1)
        profiles = agents(plan.agents)
        signers = enroll(settings, bootstrap, [ROGUE, *profiles], echo)
        echo(f"workload: {plan.events} actions from {len(profiles)} agents, ~{plan.bad_ratio:.0%} malformed or "
             "forged on purpose")
        driver = Driver(bootstrap, settings.topic(Topic.ACTIONS), make_codec(settings), signers)

        def progress(sent: int) -> None:
            if sent % 5000 == 0:
                echo(f"  emitted {sent}/{plan.events}")

        t0 = time.monotonic()
        driver.run(Workload(profiles, plan.bad_ratio, plan.seed).plan(plan.events), plan.rate, progress)
        driver.close()
        echo(f"  emitted {plan.events} in {time.monotonic() - t0:.1f}s")
        kill_switch = rogue_agent(settings, bootstrap, signers[ROGUE.agent_id], driver, services, plan.timeout_s,
                                  echo)
        offsets = Offsets(bootstrap, settings.partitions)
        try:
            wait_until_stored(offsets, settings, services, plan.timeout_s, echo)
            echo(f"  stored everything {time.monotonic() - t0:.1f}s after the first action")
            wait_until_sealed(offsets, settings, services, plan.timeout_s, echo)
            wait_until_alerted(offsets, settings, services, plan.timeout_s, echo)
            incidents = offsets.end(settings.topic(Topic.INCIDENTS))
        finally:
            offsets.close()
    finally:
        for service in reversed(services):  # the alerter, containment, then the sink: it holds the database
            service.stop()
        receiver.close()
        restore_kafka()
    result = _summarize(settings, started, driver.expected)
    if kill_switch.get("event_id"):
        from agentaudit.demo.walkthrough import audit_the_refund

        result["api"] = audit_the_refund(settings, ROGUE.tenant_id, kill_switch["event_id"])
    result["incidents"] = incidents
    result["alerts_received"] = receiver.by_severity()
    result["kill_switch"] = kill_switch
    return result


ROGUE = AgentProfile("payments-agent-rogue", "acme", "billing", ("acme-user-0",))
"""An agent that goes wrong at the end of the workload: it runs a refund its
policy engine denied, which the critical, containing rule
policy.executed_despite_decision catches; the containment service suspends
it and its runtime's kill switch stops it. The demo reinstates it afterwards,
both changes audited in the registry."""


def rogue_agent(settings: Settings, bootstrap: str, signer: Signer, driver: Driver, services: list[Service],
                timeout_s: float, echo: Echo) -> dict[str, Any]:
    """Play the rogue agent's misstep and watch containment stop it; returns what happened."""
    from agentaudit.emit import AgentSuspended, Emitter, Principal
    from agentaudit.registry.change import ChangeKind
    from agentaudit.registry.requests import SetStatus
    from agentaudit.registry.store import RegistryWriter
    from agentaudit.keyring import Keyring
    from agentaudit.demo.identities import ACTOR, APPROVER

    heard: list[Mapping[str, Any]] = []
    emitter = Emitter(bootstrap, ROGUE.agent_id, ROGUE.tenant_id, topic=settings.topic(Topic.ACTIONS),
                      codec=make_codec(settings), signer=signer, on_control=heard.append)
    outcome: dict[str, Any] = {"agent_id": ROGUE.agent_id, "suspended": False, "stopped": False}
    try:
        session = emitter.session(Principal("user", ROGUE.principals[0]))
        denied = {"decision": "deny", "policy_id": "refund-limits", "policy_version": "4",
                  "reason": "refunds over 500 EUR need a human"}
        outcome["event_id"] = session.emit("tool_call", tool="payments.refund", resource="payments://refunds/9131",
                                           parameters={"amount_eur": 4800}, policy=denied, outcome="success")
        driver.expected["recorded"] += 1
        echo(f"rogue: {ROGUE.agent_id} ran a refund its policy denied; waiting for containment…")
        # agent.control is read from its start: earlier runs' suspensions are history. This
        # run's begins with the agent's registration or new key (enroll), before the emit.
        def this_runs_suspension() -> Mapping[str, Any] | None:
            starts = [n for n, c in enumerate(heard) if c["change"] in ("register", "rotate_key")]
            return next((c for c in heard[starts[-1]:] if c["status"] == "suspended"), None) if starts else None

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and this_runs_suspension() is None:
            check_alive(services)
            time.sleep(0.2)
        suspension = this_runs_suspension()
        if suspension is None:
            echo(f"rogue: NOT suspended within {timeout_s:.0f}s (see the containment log)")
            return outcome
        outcome["suspended"] = True
        echo(f"  kill switch: the runtime heard '{suspension['status']}' (registry change by {suspension['actor']}, "
             f"approved by {suspension['approver']}: {suspension['reason']})")
        try:
            session.emit("tool_call", tool="payments.refund", resource="payments://refunds/9132", outcome="success")
        except AgentSuspended as stopped:
            outcome["stopped"] = True
            echo(f"  kill switch: the runtime's next emit raised AgentSuspended: {str(stopped)[:90]}…")
        with RegistryWriter(settings, bootstrap, Keyring.load(settings)) as writer:
            change = writer.submit(SetStatus(agent_id=ROGUE.agent_id, kind=ChangeKind.REACTIVATE, actor=ACTOR,
                                             approver=APPROVER, reason="demo: reinstated after review"))
        echo(f"  reinstated by {ACTOR}, approved by {APPROVER} (registry position {change.position}); both changes "
             f"are in `agentaudit agents show {ROGUE.agent_id} --json` and the incident's timeline")
        return outcome
    finally:
        emitter.close()


def _summarize(settings: Settings, since: datetime, expected: Counter[str]) -> dict[str, Any]:
    from agentaudit.keyring import local_public_keys, verify_signature
    from agentaudit.query.run import summary
    from agentaudit.store.client import connect
    from agentaudit.codec import load_schemas
    from agentaudit.evidence.export import registry_resolver
    from agentaudit.evidence.values import ValueReader
    from agentaudit.verify.run import EPOCH, verify_store
    from agentaudit.incident.queries import IncidentFilter, list_incidents

    client = connect(settings)
    try:
        result = summary(client, settings, since=since)
        found = list_incidents(client, settings.clickhouse_database,
                               IncidentFilter(since, datetime.now(UTC) + timedelta(minutes=1), limit=0))
        scored = client.query(
            "SELECT countIf(risk_score > 0), countIf(risk_score >= 40), count() FROM {db:Identifier}.audit_records "
            "WHERE ingest_time >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')",
            parameters={"db": settings.clickhouse_database, "since": int(since.timestamp() * 1e6)},
        ).result_rows[0]
        # --columns too: the demo's records are few, and the columns are what its queries showed
        verified = verify_store(client, settings.clickhouse_database, [], EPOCH, None, local_public_keys(settings),
                                verify_signature, int(settings.seal_interval_s * 1e6),
                                columns=ValueReader(load_schemas(), resolve=registry_resolver(settings)))
    finally:
        client.close()
    result["verify"] = verified.as_dict()
    result["scored"] = {"with_hits": scored[0], "risky": scored[1], "records": scored[2]}
    by_rule = Counter(f"{i.rule_id} ({i.severity})" for i in found)
    result["incidents_by_rule"] = dict(by_rule.most_common())
    result["incidents_contained"] = sum(1 for i in found if i.status == "contained")
    wanted_rejections = {k: v for k, v in expected.items() if k != "recorded"}
    result["expected_recorded"] = expected["recorded"]
    result["expected_rejected_by_reason"] = dict(sorted(wanted_rejections.items()))
    result["complete"] = (
        result["recorded"] == expected["recorded"] and result["rejected_by_reason"] == wanted_rejections
        and verified.ok
    )
    return result


def exit_ok(result: dict[str, Any]) -> bool:
    """Everything accounted for, verified, alerted and contained, and the auditor's trace proved."""
    ks = result["kill_switch"]
    walked = result.get("api", {})
    return bool(result["complete"] and result["alerts_received"] and ks.get("suspended") and ks.get("stopped")
                and walked.get("proof_verified"))


def report(result: dict[str, Any], home: str) -> str:
    lines = [
        "",
        "What landed in ClickHouse (this run):",
        f"  recorded {result['recorded']} (expected {result['expected_recorded']})",
        f"  rejected {result['rejected']}, by reason:",
    ]
    expected = result["expected_rejected_by_reason"]
    for reason in sorted(set(expected) | set(result["rejected_by_reason"])):
        lines.append(f"    {reason:<16} {result['rejected_by_reason'].get(reason, 0):>6} (expected {expected.get(reason, 0)})")
    lines.append("  by action: " + ", ".join(f"{k} {v}" for k, v in result["by_action"].items()))
    lines.append("  by outcome: " + ", ".join(f"{k} {v}" for k, v in result["by_outcome"].items()))
    scored = result["scored"]
    lines.append(f"  detection: {scored['with_hits']} of {scored['records']} records hit a rule, "
                 f"{scored['risky']} scored 40+ (risk 0-100, chained with the record)")
    lines.append(f"  incidents this run, one per agent and rule: {sum(result['incidents_by_rule'].values())}, "
                 f"{result['incidents_contained']} contained; entries on audit.incidents (all runs): {result['incidents']}")
    for rule, count in result["incidents_by_rule"].items():
        lines.append(f"    {rule:<52} {count:>4}")
    received = result["alerts_received"]
    lines.append("  on-call: the alerter delivered " + (", ".join(f"{n} {sev}" for sev, n in received.items())
                                                       or "nothing") + " to the demo's webhook receiver")
    ks = result["kill_switch"]
    if ks:
        lines.append(f"  containment: {ks['agent_id']} suspended {'yes' if ks['suspended'] else 'NO'}, runtime "
                     f"stopped by the kill switch {'yes' if ks['stopped'] else 'NO'} (then reinstated, audited)")
    walked = result.get("api")
    if walked:
        policy = walked["policy"]
        lines.append(
            f"  query API, as an auditor (key {walked['key_id']}): the rogue refund {walked['event_id']} — principal "
            f"{walked['principal']} → policy {policy['policy_id']} v{policy['policy_version']} said "
            f"{policy['decision']} → outcome {walked['outcome']} → incidents "
            + (", ".join(f"{rule} ({status})" for rule, status in walked["incidents"]) or "none")
            + f" → chain position {walked['chain_position']}, seal {walked['seal']}, inclusion proof "
            + ("verified" if walked["proof_verified"] else f"NOT verified: {walked['problem']}")
            + f"; {walked['reads_recorded']} of its reads already in the access log")
    v = result["verify"]
    lines.append(
        f"  verify: {v['records']} records in {v['agents']} agent chains, {v['seals']} signed seals, "
        f"{v['unsealed']} records awaiting a seal, query columns of {v['columns_checked']} checked: "
        + ("every chain, seal and column verifies" if v["ok"] else f"{len(v['findings'])} FINDINGS, first: {v['findings'][:1]}")
    )
    lines.append(
        "  every action accounted for exactly once, chained and sealed: "
        + ("yes" if result["complete"] else "NO — see the logs")
    )
    prefix = "" if home == "var" else f"AGENTAUDIT_HOME={home} "
    lines += [
        "",
        "Try:",
        f"  {prefix}./run query --since -1h --agent billing-agent-2 --limit 20",
        f"  {prefix}./run query --since -1h --outcome denied",
        f"  {prefix}./run query --since -1h --action data_write --json",
        f"  {prefix}./run query --since -1h --summary",
        f"  {prefix}./run verify --agent billing-agent-2",
        f"  {prefix}./run incidents list --since -1h",
        f"  {prefix}./run rules list",
        f"  {prefix}./run api keys create --name me --role analyst --tenant acme   # then: ./run api serve",
    ]
    return "\n".join(lines)


def exit_code(result: dict[str, Any]) -> int:
    return 0 if exit_ok(result) else 1
