"""The processor as a faust-streaming app: moves bytes, batches, and keeps order.

Contract (at-least-once, replay-deterministic): actions are taken in batches
with stream.take_events; each output goes to the same partition number of
audit.records or audit.rejected as its input had on agent.actions, so an
agent's records stay in order. Outputs go through an idempotent
confluent-kafka producer that is flushed before the handler returns; faust acks
a batch's events, and later commits their offsets, only after that, so a crash
can only repeat outputs, never lose them. (Faust's own aiokafka producer, sent
to per message, relayed half as many actions per second: see README,
"Benchmarks".) Repeats are byte-identical
(validate.py reads no clock) and the sink drops them by (source partition,
source offset).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import faust
from confluent_kafka import KafkaError, Message, Producer
from faust.types import TP, EventT

from agentaudit.chain.forms import PrefixForm, chain_link_tail
from agentaudit.chain.seal import SealedBytes, SealForm, SealSigner
from agentaudit.chain.state import ChainState
from agentaudit.codec import Codec
from agentaudit.codec.schemas import load_schemas
from agentaudit.errors import AgentAuditError, AttributionError, PermanentError
from agentaudit.metrics import (
    ATTRIBUTION_INCIDENTS,
    ATTRIBUTION_MISSING_ACTIONS,
    ATTRIBUTION_SEQUENCE_GAPS,
    DETECT_RISK_SCORE,
    DETECT_RULE_HITS,
    INCIDENTS_RAISED,
    PROCESS_BATCH,
    PROCESS_IN,
    PROCESS_INGEST_LAG,
    PROCESS_RECORDS,
    PROCESS_REJECTED,
    PROCESS_REJECTION_ALARM,
    PROCESS_SEAL_INTERVAL,
    PROCESS_SEALS,
    PROCESS_SKIPPED,
    PROCESS_STATE_RESTORE,
    PROCESS_TICKS,
    PRIVACY_ERASURES,
    PRIVACY_KEYS_CREATED,
)
from agentaudit.detect import AgentContext, Findings, RuleSet
from agentaudit.process.attribute import SecretOpener, attribute
from agentaudit.process.incidents import gap_incident, rejection_incident
from agentaudit.process.sessions import SessionStatus
from agentaudit.registry.model import RegistryView
from agentaudit.process.chaining import ChainStage, SealPolicy
from agentaudit.process.seal_lag import SealLag
from agentaudit.process.state_store import StateStore
from agentaudit.process.timing import StageClock
from agentaudit.process.validate import Input, Limits, Outcome, evaluate, reject
from agentaudit.privacy.erasure import ERASE_KEY, parse_control
from agentaudit.privacy.keys import KeyEntry, NeedSubjectKey
from agentaudit.privacy.stage import PrivacyStage
from agentaudit.settings import Settings
from agentaudit.topics import MIB, Topic

log = logging.getLogger(__name__)

# A batch must be this large before its rejection share can raise the alarm;
# a handful of bad events in a quiet minute is bad luck, not a bad deploy.
ALARM_MIN_BATCH = 100
EXIT_TEMPFAIL = 75  # sysexits.h: try again later
FINDING_WINDOW_US = 3600 * 1_000_000  # group window of integrity findings when no rule file sets one


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_action_bytes=settings.max_action_bytes,
        max_future_skew_us=int(settings.max_future_skew_s * 1e6),
        max_past_skew_us=int(settings.max_past_skew_s * 1e6),
    )


def to_input(event: EventT[bytes]) -> Input:
    msg = event.message
    return Input(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        timestamp_ms=round(msg.timestamp * 1000),
        timestamp_type=msg.timestamp_type,
    )


TICK_KEY = b"\x00agentaudit-tick"
"""Key of the processor's clock ticks: empty messages it writes to every
partition of agent.actions so that time, as the broker stamps it, advances in
the log even when no agent acts -- idle chains are sealed on time, and a replay
sees the same ticks at the same offsets. A tick carries nothing but its stamp;
a message that looks like one can at most advance sealing, never hide data."""


class Registry(Protocol):
    """What the handler needs of the registry (agentaudit.registry.store.RegistryFollower)."""

    @property
    def view(self) -> RegistryView: ...

    def sync(self, timeout_s: float | None = None) -> int: ...


def is_tick(msg: Input) -> bool:
    return msg.key == TICK_KEY and not msg.value


class BatchHandler:
    """Evaluates, chains and seals a batch of consumed events and publishes the outcomes.

    Blocking contract: __call__ returns only once the broker has acknowledged
    every output of the batch, and after them the chain state they leave
    behind. Faust's take_events acks a batch's events in a `finally`, even when
    the handler raises or is cancelled, so this handler must never leave with
    outputs in doubt: it waits out a slow broker, flushes synchronously when
    cancelled, and stops the process outright (fail-stop, exit code 75) if the
    broker refused a write. A restart restores the last durable state, skips
    inputs it already covers, and redoes the rest, which yields identical
    records and seals (chaining.py), so a chain never forks.
    """

    def __init__(
        self, settings: Settings, codec: Codec, producer: Producer, store: StateStore, signer: SealSigner,
        registry: Registry, secrets: SecretOpener, rules: RuleSet | None = None,
        privacy: PrivacyStage | None = None, pipeline_keys: Callable[[], Mapping[str, bytes]] | None = None,
    ) -> None:
        self.codec = codec
        self.privacy = privacy  # None: actions are stored as emitted
        # the public keys an erase control must be signed with, re-read when a control names a key id not
        # among them (a rotation since start-up); None: no control is accepted
        self.pipeline_keys = pipeline_keys
        self._known_keys: Mapping[str, bytes] = pipeline_keys() if pipeline_keys else {}
        self.rules = rules  # None: detection off, records stored unscored
        # each integrity finding's group window, from its rule file (integrity.*)
        self.windows = {rule.id: rule.group_window_us for rule in rules.rules} if rules else {}
        self.registry = registry
        self.secrets = secrets
        self.limits = limits_of(settings)
        self.producer = producer
        self.store = store
        self.signer = signer
        schemas = load_schemas()
        self.record_form = PrefixForm(schemas, "AuditRecord", ("chain",))
        self.seal_form = SealForm(schemas)
        self.policy = SealPolicy(settings.seal_every_records, int(settings.seal_interval_s) * 1_000_000)
        self.records_topic = settings.topic(Topic.RECORDS)
        self.rejected_topic = settings.topic(Topic.REJECTED)
        self.seals_topic = settings.topic(Topic.SEALS)
        self.incidents_topic = settings.topic(Topic.INCIDENTS)
        self.alarm_ratio = settings.rejection_alarm_ratio
        self.stages: dict[int, ChainStage] = {}
        self._incidents: list[dict[str, Any]] = []  # raised by the input being rendered
        self._failures: list[KafkaError] = []
        self.timer = StageClock()
        self.seal_lag = SealLag()
        PROCESS_SEAL_INTERVAL.set(settings.seal_interval_s)

    async def __call__(self, events: Sequence[EventT[bytes]]) -> None:
        PROCESS_BATCH.observe(len(events))
        rejected = inputs = 0
        newest_ingest_ms = 0
        touched: dict[int, int] = {}  # partition -> highest offset of the batch
        topic: str | None
        seals: list[SealedBytes]
        # Every registry change made before these actions were ingested is
        # readable now (changes take effect after a delay: registry.store).
        await asyncio.get_running_loop().run_in_executor(None, self.registry.sync)
        for event in events:
            msg = to_input(event)
            stage = await self._stage(msg.partition)
            if msg.offset <= stage.watermark:
                PROCESS_SKIPPED.inc()
                continue
            touched[msg.partition] = max(touched.get(msg.partition, -1), msg.offset)
            newest_ingest_ms = max(newest_ingest_ms, msg.timestamp_ms)
            source = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
            self._publish_seals(stage.advance(msg.timestamp_ms * 1000, source), msg.partition)
            if is_tick(msg):
                PROCESS_TICKS.inc()
                continue
            if msg.key == ERASE_KEY:
                refused = self._erase(msg)
                if refused is None:
                    continue
                topic, value, seals = self.rejected_topic, refused, []
            else:
                try:
                    topic, value, seals = self.render(msg, stage)
                except NeedSubjectKey as need:
                    await self._create_key(need)
                    topic, value, seals = self.render(msg, stage)
            if topic is None:
                PROCESS_SKIPPED.inc()
                continue
            inputs += 1
            self._produce(topic, msg.partition, msg.key, value)
            self._publish_seals(seals, msg.partition)
            for incident in self._incidents:
                self._produce(self.incidents_topic, msg.partition, msg.key, self.codec.encode("Incident", incident))
            self._incidents.clear()
            self.timer.lap("publish")
            rejected += topic == self.rejected_topic
        self.timer.start()
        await self._flush()
        carried = []  # partitions whose checkpoint carries erasure markers to write
        for partition, offset in touched.items():
            stage = self.stages[partition]
            erasures = self._pending_erasures(partition)
            self.store.save(partition, checkpoint(stage), offset, self._delivered, erasures)
            if erasures is not None:
                carried.append(partition)
            stage.watermark = offset
            self.seal_lag.update(partition, stage.states.values())
        await self._flush()
        await self._write_erasures(carried)
        self.timer.lap("flush")
        PROCESS_IN.inc(inputs)
        PROCESS_RECORDS.inc(inputs - rejected)
        if newest_ingest_ms:
            PROCESS_INGEST_LAG.observe(max(0.0, time.time() - newest_ingest_ms / 1000))
        self._check_alarm(inputs, rejected)

    def render(self, msg: Input, stage: ChainStage) -> tuple[str | None, bytes, list[SealedBytes]]:
        """The output topic and encoded value for one input, and any seal it completed.

        The topic is None for an input that a restart found already applied.
        An unexpected error on one input becomes that input's rejection: a bug
        that trips on one odd input must not stop the stream or lose the input,
        and a bug that trips on every input shows up as the rejection alarm.
        Nothing after stage.link() may raise: a linked record must be written.
        """
        self._incidents.clear()
        self.timer.start()
        try:
            outcome = evaluate(msg, self.codec, self.limits)
            self.timer.lap("validate")
            if outcome.record is not None:
                record = outcome.record
                action = record["action"]
                if stage.applied(action["agent_id"], msg.offset):
                    return None, b"", []
                try:
                    return self._chain(msg, stage, record)
                except AttributionError as refused:
                    outcome = reject(msg, refused, action)
                    shown = self._stored_rejection(outcome)
                    self._raise_incident(stage, rejection_incident(refused, shown, msg, record["ingest_time"]))
        except NeedSubjectKey:
            raise  # nothing changed yet: the caller makes the key durable and renders again
        except Exception as exc:
            log.exception("processing error on %s[%d]@%d", msg.topic, msg.partition, msg.offset)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            failure = PermanentError(
                "processing_error", f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
            )
            outcome = reject(msg, failure, self._decoded(msg))
        if outcome.action is not None and outcome.rejection is not None and outcome.rejection["redaction"] is None:
            self._stored_rejection(outcome)
        rejection: dict[str, Any] = outcome.rejection  # type: ignore[assignment]
        agent_id = rejection["agent_id"]
        if agent_id is not None:
            if stage.applied(agent_id, msg.offset):
                return None, b"", []
            stage.touch(agent_id, msg.offset)
        PROCESS_REJECTED.labels(reason=rejection["reason_code"]).inc()
        log.warning(
            "rejected %s[%d]@%d: %s: %s",
            msg.topic, msg.partition, msg.offset, rejection["reason_code"], rejection["reason"],
        )
        return self.rejected_topic, self.codec.encode("Rejection", rejection), []

    def _chain(self, msg: Input, stage: ChainStage, record: dict[str, Any]) -> tuple[str, bytes, list[SealedBytes]]:
        """Attribute, check the session, then link: the order in which nothing can fail after a state change."""
        action = record["action"]
        definition = attribute(action, self.registry.view, record["ingest_time"], self.secrets)
        key = definition.key(action["key_id"], record["ingest_time"])
        assert key is not None  # attribute() verified the signature with it
        record["attribution"] = {
            "agent_version": definition.version, "key_id": key.key_id, "algorithm": key.algorithm.value,
        }
        # Redacted now, before the session check changes state, because it may
        # stop for a subject key (NeedSubjectKey); stored and shown in incidents,
        # while detection below still scores the cleartext.
        stored, redaction = self.privacy.accepted(action, msg.partition) if self.privacy else (action, None)
        check = stage.sessions.check(action)  # records the action as seen unless it rejects it
        if check.rejected:
            raise check.error(definition.tenant_id)
        if check.status is SessionStatus.GAP:
            ATTRIBUTION_SEQUENCE_GAPS.inc()
            ATTRIBUTION_MISSING_ACTIONS.inc(check.missing)
            self._raise_incident(stage, gap_incident(check, stored, msg, record["ingest_time"],
                                                     registered_tenant_id=definition.tenant_id))
        self.timer.lap("attribute")
        if self.rules is not None:
            self._score(msg, stage, record, AgentContext(definition.agent_id, definition.tenant_id, definition.scope),
                        Findings(sequence_gap=check.missing), stored)
            self.timer.lap("score")
        if self.privacy is not None:
            record["action"], record["redaction"] = stored, redaction
            self.timer.lap("redact")
        body = self.record_form.encode(record)
        header = self.codec.header("AuditRecord")
        link, seals = stage.link(action["agent_id"], action["tenant_id"], body, record["ingest_time"], record["source"])
        self.timer.lap("chain")
        value = header + body + chain_link_tail(link.position, link.prev_hash, link.hash)
        return self.records_topic, value, seals

    def _score(self, msg: Input, stage: ChainStage, record: dict[str, Any], agent: AgentContext,
               findings: Findings, stored: dict[str, Any]) -> None:
        """Detection: the record's risk score and rule hits, and the incidents its hits open or update.

        Runs before the record is encoded, so the score is part of what the
        chain hash covers; like the rest of the stage it reads no clock, and the
        agent's detection and incident memory is saved with its chain state.
        Rules read the cleartext action; incidents show `stored`, the action as
        the record keeps it (redacted), since their detail is stored too.
        """
        assert self.rules is not None
        verdict = self.rules.evaluate(record, agent, stage.detect_state(agent.agent_id), findings)
        record["risk_score"] = verdict.risk_score
        record["rule_hits"] = verdict.rule_hits()
        DETECT_RISK_SCORE.observe(verdict.risk_score)
        for hit in verdict.hits:
            DETECT_RULE_HITS.labels(rule=hit.rule_id, severity=hit.severity).inc()
        groups = stage.incident_groups(agent.agent_id)
        raised = {incident["rule_id"] for incident in self._incidents}  # the integrity stage's, for this input
        for hit in self.rules.incident_hits(verdict, agent.tenant_id):
            if hit.rule_id in raised:
                continue
            contain = hit.contain and hit.severity == "critical"
            entry = groups.hit(hit, stored, msg, record["ingest_time"], verdict.risk_score, contained=contain)
            if entry is not None:
                INCIDENTS_RAISED.labels(source="detection", severity=entry["severity"], change=entry["change"]).inc()
                self._incidents.append(entry)

    def _stored_rejection(self, outcome: Outcome) -> dict[str, Any]:
        """The rejected action as it may be stored and shown; rewrites the rejection's original when redacted.

        A rejection keeps the input's bytes, but under a privacy policy those
        bytes hold the very values the policy keeps out of storage. When the
        action decoded, the rejection keeps its redacted form instead, re-encoded,
        with the redaction saying what changed; an input that did not decode
        cannot be read for personal data and is kept as it came.
        """
        action = outcome.action
        assert action is not None and outcome.rejection is not None
        if self.privacy is None:
            return action
        stored, redaction = self.privacy.rejected(action)
        if redaction is not None:
            outcome.rejection["original"] = self.codec.encode("AgentAction", stored)
            outcome.rejection["redaction"] = redaction
        return stored

    def _decoded(self, msg: Input) -> dict[str, Any] | None:
        """The action of an input that failed unexpectedly, if it decodes (so its rejection can be redacted)."""
        if self.privacy is None or not msg.value:
            return None
        try:
            return self.codec.decode("AgentAction", msg.value)
        except Exception:  # noqa: BLE001 -- undecodable input is kept as it came
            return None

    def _erase(self, msg: Input) -> bytes | None:
        """Apply an erase control (privacy.erasure) in memory at its place in the stream; the encoded
        rejection instead when it is not a well-formed control signed by the pipeline."""
        try:
            control = parse_control(msg.value)
            if control.key_id not in self._known_keys:
                self._refresh_keys()  # signed by a key rotated in since start-up?
            erasure = control.verified(self._known_keys, msg.partition)
        except PermanentError as refused:
            rejection: dict[str, Any] = reject(msg, refused, None).rejection  # type: ignore[assignment]
            rejection["agent_id"] = None  # the control key is no agent: no chain state is touched
            PROCESS_REJECTED.labels(reason=refused.code).inc()
            log.warning("rejected %s[%d]@%d: %s: %s", msg.topic, msg.partition, msg.offset, refused.code,
                        refused.reason)
            return self.codec.encode("Rejection", rejection)
        if self.privacy is None:
            log.warning("erase control of request %s at %s[%d]@%d ignored: the processor runs without a privacy "
                        "policy, so it holds no subject keys", erasure.request_id, msg.topic, msg.partition,
                        msg.offset)
            return None
        erased = self.privacy.keys.erase(msg.partition, erasure.tenant_id, erasure.subject_ref,
                                         erasure.generations, erasure.marker)
        PRIVACY_ERASURES.inc(len(erased))
        log.info("erase control of request %s at %s[%d]@%d: erased %d subject key(s) from here on",
                 erasure.request_id, msg.topic, msg.partition, msg.offset, len(erased))
        return None

    def _refresh_keys(self) -> None:
        """Re-read the pipeline's public keys; a keyring that cannot be read leaves the known ones (the control
        is then refused), since a control must never stop the processor."""
        if self.pipeline_keys is None:
            return
        try:
            self._known_keys = self.pipeline_keys()
        except (AgentAuditError, OSError) as exc:
            log.error("could not re-read the pipeline keyring to check an erase control: %s", exc)

    def _pending_erasures(self, partition: int) -> bytes | None:
        """The markers the checkpoint carries until they are written (None: nothing pending)."""
        pending = self.privacy.keys.pending(partition) if self.privacy else []
        return b"[" + b",".join(marker.to_json() for marker in pending) + b"]" if pending else None

    async def _write_erasures(self, partitions: list[int]) -> None:
        """The erasure markers the partitions' checkpoints carry: written now, then dropped from the checkpoints.

        Not before the checkpoint: until then a crash replays inputs erased
        later in the stream, and they must find their key where it was.
        """
        if self.privacy is None or not partitions:
            return
        for partition in partitions:
            self.privacy.keys.write_pending(partition, self._delivered)
        await self._flush()
        for partition in partitions:
            self.store.erasures_written(partition, self._delivered)
        await self._flush()

    async def _create_key(self, need: NeedSubjectKey) -> None:
        """A new subject key, durable before anything is encrypted under it (privacy.keys)."""
        assert self.privacy is not None
        self.privacy.keys.create(need, self._delivered)
        await self._flush()
        PRIVACY_KEYS_CREATED.inc()

    def _raise_incident(self, stage: ChainStage, incident: dict[str, Any]) -> None:
        """An integrity finding, grouped per agent and kind like rule hits."""
        ATTRIBUTION_INCIDENTS.labels(kind=incident["rule_id"], severity=incident["severity"]).inc()
        window = self.windows.get(incident["rule_id"], FINDING_WINDOW_US)
        entry = stage.incident_groups(incident["agent_id"], chained=False).finding(incident, window)
        if entry is not None:
            INCIDENTS_RAISED.labels(source="attribution", severity=entry["severity"], change=entry["change"]).inc()
            self._incidents.append(entry)

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the state of partitions this worker no longer owns; reloaded if they come back."""
        for partition in partitions:
            self.stages.pop(partition, None)
            self.seal_lag.forget(partition)
            if self.privacy is not None:
                self.privacy.keys.forget(partition)

    async def _stage(self, partition: int) -> ChainStage:
        stage = self.stages.get(partition)
        if stage is None:
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            states, watermark, erasures = await loop.run_in_executor(None, self.store.load, partition)
            if self.privacy is not None:
                await loop.run_in_executor(None, self.privacy.keys.load, partition)
            PROCESS_STATE_RESTORE.observe(time.monotonic() - started)
            stage = self.stages[partition] = self.restore(partition, states, watermark)
            if erasures:
                await self._resume_erasures(partition, erasures)
        return stage

    async def _resume_erasures(self, partition: int, erasures: bytes) -> None:
        """Markers the last checkpoint left to write (a crash came before them): erased again, and written."""
        if self.privacy is None:
            log.warning("partition %d has erasure markers pending but no privacy policy: left pending", partition)
            return
        for marker in (KeyEntry.from_json(json.dumps(m).encode()) for m in json.loads(erasures)):
            assert marker.erased is not None
            # erased again in memory: the key may still be live on the topic, and the inputs after the
            # watermark come after the control that erased it
            self.privacy.keys.erase(partition, marker.tenant_id, marker.subject_ref, [marker.generation],
                                    marker.erased)
        log.info("partition %d: writing %d erasure marker(s) its last checkpoint left pending", partition,
                 len(self.privacy.keys.pending(partition)))
        await self._write_erasures([partition])

    def restore(self, partition: int, states: dict[str, ChainState], watermark: int) -> ChainStage:
        """The stage of a partition as its saved states left it (their detection memory loads on first use)."""
        stage = ChainStage(partition, states, watermark, self.policy, self.seal_form, self.signer)
        for agent_id, state in states.items():
            stage.sessions.restore_agent(agent_id, state.sessions)
        return stage

    def _publish_seals(self, seals: list[SealedBytes], partition: int) -> None:
        for seal in seals:
            value = self.codec.header("Seal") + seal.body
            self._produce(self.seals_topic, partition, seal.datum["agent_id"].encode(), value)
            PROCESS_SEALS.labels(reason=seal.datum["reason"]).inc()

    def _produce(self, topic: str, partition: int, key: bytes | None, value: bytes) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, partition=partition, on_delivery=self._delivered)
                return
            except BufferError:  # local queue full: serve delivery reports to make room
                self.producer.poll(0.1)

    def _delivered(self, error: KafkaError | None, _msg: Message) -> None:
        if error is not None:
            self._failures.append(error)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while remaining := await loop.run_in_executor(None, self.producer.flush, 10.0):
                log.warning("waiting for the broker to acknowledge %d outputs", remaining)
        except asyncio.CancelledError:
            # Shutting down: faust will ack and commit this batch as soon as we
            # yield, so block the event loop until every output is delivered.
            self.producer.flush(30.0)
            raise
        if self._failures:
            log.critical(
                "broker refused %d outputs (%s); stopping without acking the batch",
                len(self._failures), self._failures[0],
            )
            logging.shutdown()
            os._exit(EXIT_TEMPFAIL)

    def _check_alarm(self, size: int, rejected: int) -> None:
        if size < ALARM_MIN_BATCH:
            return
        alarmed = rejected / size > self.alarm_ratio
        PROCESS_REJECTION_ALARM.set(1 if alarmed else 0)
        if alarmed:
            log.error(
                "rejection alarm: %d of %d actions in one batch rejected (limit %.0f%%); "
                "check the emitters' schema and clocks before trusting this stream",
                rejected, size, self.alarm_ratio * 100,
            )


def checkpoint(stage: ChainStage) -> list[ChainState]:
    """The states of the agents the stage changed since the last checkpoint, ready to save.

    Each carries the agent's session, detection and incident memory as of now,
    so a restart resumes every stage exactly here (invariant 4).
    """
    states = []
    for agent_id in sorted(stage.dirty):
        state = stage.states[agent_id]
        state.sessions = stage.sessions.agent_state(agent_id)
        if agent_id in stage.detect:
            state.detect = stage.detect[agent_id].slots
        if agent_id in stage.groups:
            state.incidents = stage.groups[agent_id].to_state()
        states.append(state)
    stage.dirty.clear()
    return states


def load_rules(settings: Settings) -> RuleSet | None:
    """The detection rules the settings name (AGENTAUDIT_DETECT_RULES, _DETECT_CONFIG); None when off."""
    from pathlib import Path

    from agentaudit.detect import DetectConfig

    if settings.detect_rules == "off":
        return None
    config = DetectConfig.load(Path(settings.detect_config)) if settings.detect_config else None
    directory = None if settings.detect_rules == "packaged" else Path(settings.detect_rules)
    return RuleSet.load(directory, config)


def load_privacy(settings: Settings, bootstrap: str, producer: Producer, kek: bytes) -> PrivacyStage | None:
    """The redaction the settings name (AGENTAUDIT_PRIVACY_POLICY), checked now; None when there is none."""
    from pathlib import Path

    from agentaudit.privacy.keys import SubjectKeys
    from agentaudit.privacy.policy import Policy
    from agentaudit.privacy.redact import Redactor
    from agentaudit.privacy.tokens import Peppers

    if not settings.privacy_policy:
        return None
    policy = Policy.load(Path(settings.privacy_policy))
    return PrivacyStage(Redactor(policy, Peppers(kek)), SubjectKeys(settings, bootstrap, producer, kek))


def output_producer(settings: Settings, bootstrap: str) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.max.bytes": 9 * MIB,
            "client.id": f"{settings.topic_prefix}agentaudit-processor",
        }
    )


def tick_interval_s(settings: Settings) -> float:
    """How often ticks go out: a few per sealing period, so idle seals are at most a tick late."""
    return max(1.0, min(settings.seal_interval_s / 4, 15.0))


def make_app(
    settings: Settings, bootstrap: str, codec: Codec, signer: SealSigner, registry: Registry, secrets: SecretOpener,
    kek: bytes, pipeline_keys: Callable[[], Mapping[str, bytes]] | None = None,
) -> faust.App:
    """Build the processor app; topics must already exist (agentaudit topics ensure)."""
    datadir = settings.home / "faust"
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        f"{settings.topic_prefix}agentaudit-processor",
        broker=[f"kafka://{server}" for server in bootstrap.split(",")],
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,  # metrics are served by prometheus-client instead
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        # Our topics exist (ensure_topics ran first); this lets faust create its
        # own internal leader-election topic instead of logging its absence.
        topic_replication_factor=settings.replication_factor,
        consumer_max_fetch_size=9 * MIB,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, settings.process_batch * 2),
    )
    actions = app.topic(settings.topic(Topic.ACTIONS), key_type=bytes, value_type=bytes)
    producer = output_producer(settings, bootstrap)
    handle = BatchHandler(
        settings, codec, producer, StateStore(settings, bootstrap, producer), signer, registry, secrets,
        load_rules(settings), load_privacy(settings, bootstrap, producer, kek), pipeline_keys,
    )
    actions_topic = settings.topic(Topic.ACTIONS)

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's receiver type is narrower than its calls
    async def on_revoked(_app: Any, revoked: set[TP], **_: Any) -> None:
        handle.forget(tp.partition for tp in revoked if tp.topic == actions_topic)

    def tick_failed(error: KafkaError | None, _msg: Message) -> None:
        if error is not None:  # a lost tick only delays idle seals until the next one
            log.warning("clock tick not delivered: %s", error)

    @app.timer(tick_interval_s(settings))  # type: ignore[untyped-decorator]
    async def tick() -> None:
        for partition in range(settings.partitions):
            producer.produce(actions_topic, b"", TICK_KEY, partition=partition, on_delivery=tick_failed)
        producer.poll(0)

    @app.agent(actions, name="process-actions")
    async def process(stream: faust.StreamT[bytes]) -> None:
        try:
            # take_events (not take): each event carries its partition, offset and broker timestamp.
            batches = stream.take_events(  # type: ignore[attr-defined]
                settings.process_batch, within=settings.process_within_s
            )
            async for events in batches:
                await handle(events)
        except Exception:
            # Leaving the loop would let take_events ack a batch in doubt.
            log.critical("processor failed; stopping without acking the batch", exc_info=True)
            logging.shutdown()
            os._exit(EXIT_TEMPFAIL)

    return app
