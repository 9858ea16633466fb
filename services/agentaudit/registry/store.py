"""agent.registry on Kafka: one transactional writer at a time, followers that verify what they read.

Kafka I/O only: what an entry must satisfy is RegistryLog's business
(agentaudit.registry.log), and this module moves its entries in and out.

Reading: a read_committed consumer on the topic's single partition, from
the beginning. sync() reads to the end as of the call (the last stable
offset, so an entry is seen only once its transaction committed);
catch_up() applies what has already arrived, without waiting, and costs two
local calls when nothing is new. Every entry is verified on the way in; a bad
one raises RegistryIntegrityError naming its position, and so does every
later call: a reader never skips an entry.

Writing: see RegistryWriter.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import NoReturn, Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from agentaudit.admin import verify_topic
from agentaudit.codec import Codec, make_codec
from agentaudit.emit.ids import uuid7
from agentaudit.errors import DecodeError, TransientError
from agentaudit.metrics import (
    REGISTRY_CHANGES,
    REGISTRY_INTEGRITY_FAILURES,
    REGISTRY_POSITION,
    REGISTRY_REFUSED,
    REGISTRY_WRITER_RETRIES,
)
from agentaudit.registry.avro import SCHEMA, from_avro, to_avro
from agentaudit.registry.change import RegistryChange
from agentaudit.registry.control import control_of
from agentaudit.registry.errors import RegistryIntegrityError, RegistryRefusal
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.model import RegistryView
from agentaudit.registry.requests import ChangeRequest
from agentaudit.settings import Settings
from agentaudit.topics import Topic

log = logging.getLogger(__name__)

PARTITION = 0  # the registry topic has exactly one (topics.py)
_BATCH = 500


def _now_us() -> int:
    return time.time_ns() // 1000


class RegistryKeys(Protocol):
    """What a writer needs from the pipeline keyring (agentaudit.keyring.Keyring)."""

    def sign(self, data: bytes) -> tuple[str, bytes]: ...

    def public_keys(self) -> dict[str, bytes]: ...


class RegistryFollower:
    """The registry read from agent.registry into a verified RegistryLog, kept current on request.

    The constructor reads everything there is (sync). Then call catch_up()
    before each use, e.g. before each processor batch: it never blocks and
    is two local calls when nothing is new. Call sync() where an answer must
    include every change committed so far. Not thread-safe.

    refresh_keys, if given, is asked for the pipeline's public keys again when
    an entry names a signing key not among them (the keyring was rotated since
    this follower started, e.g. `lambda: Keyring.load(settings).public_keys()`);
    without it, such an entry stops the follower like any that does not verify.
    """

    def __init__(
        self, settings: Settings, bootstrap: str, public_keys: Mapping[str, bytes], *,
        codec: Codec | None = None, timeout_s: float = 30.0,
        refresh_keys: Callable[[], Mapping[str, bytes]] | None = None,
    ) -> None:
        verify_topic(settings, bootstrap, Topic.REGISTRY, timeout_s)
        self.topic = settings.topic(Topic.REGISTRY)
        self.timeout_s = timeout_s
        self.log = RegistryLog(public_keys)
        self._refresh_keys = refresh_keys
        self._codec = codec or make_codec(settings)
        self._tp = TopicPartition(self.topic, PARTITION)
        self._consumer = Consumer({
            "bootstrap.servers": bootstrap,
            # assign() with no commits: the group id is never joined, only required by the client
            "group.id": f"{settings.topic_prefix}agentaudit-registry-reader",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.wait.max.ms": 100,  # how stale catch_up() may be: the background fetch's long poll
            "client.id": "agentaudit-registry-reader",
        })
        self._consumer.assign([TopicPartition(self.topic, PARTITION, OFFSET_BEGINNING)])
        try:
            self.sync()
        except BaseException:
            self._consumer.close()  # nobody else holds it to close
            raise

    @property
    def view(self) -> RegistryView:
        return self.log.view

    def catch_up(self) -> int:
        """Apply the entries that have already arrived; never waits. Returns how many."""
        self._raise_if_broken()
        position = self._position()
        _, high = self._consumer.get_watermark_offsets(self._tp, cached=True)  # from the last fetch: no request
        if position >= 0 and high >= 0 and position >= high:
            return 0
        applied = 0
        while True:
            batch = self._consumer.consume(num_messages=_BATCH, timeout=0)
            applied += self._apply(batch)
            if len(batch) < _BATCH:
                return applied

    def sync(self, timeout_s: float | None = None) -> int:
        """Read up to the end of the registry as of now (every committed entry); returns how many were new.

        TransientError if the broker does not serve them within timeout_s.
        """
        self._raise_if_broken()
        timeout = self.timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout
        end = self._end_offset(deadline)
        applied = 0
        while self._position() < end:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransientError(f"reading {self.topic}: at offset {self._position()} of {end} after {timeout}s")
            applied += self._apply(self._consumer.consume(num_messages=_BATCH, timeout=min(remaining, 0.5)))
        return applied

    def _raise_if_broken(self) -> None:
        """A bad entry was read already: its error again, on every call (the bad entry is consumed,
        so without this a later call would find nothing new and look healthy)."""
        if self.log.broken is not None:
            raise self.log.broken

    def _end_offset(self, deadline: float) -> int:
        """The registry's last stable offset (read_committed: an open transaction is not waited for).

        Errors are retried until the deadline: a topic created a moment ago has
        no leader yet (NOT_LEADER_FOR_PARTITION, which librdkafka does not flag
        as retriable here), and a broker may be restarting.
        """
        while True:
            try:
                return int(self._consumer.get_watermark_offsets(
                    self._tp, timeout=max(deadline - time.monotonic(), 0.1), cached=False)[1])
            except KafkaException as exc:
                if time.monotonic() >= deadline:
                    raise TransientError(f"cannot read the end of {self.topic}: {exc}") from exc
                time.sleep(0.1)

    def _position(self) -> int:
        """The next offset to read; 0 before anything was read. Moves past transaction markers too."""
        (tp,) = self._consumer.position([self._tp])
        return max(tp.offset, 0)

    def _apply(self, messages: list[Message]) -> int:
        for message in messages:
            error = message.error()
            if error is not None:
                raise TransientError(f"reading {self.topic}: {error}")
            self._append(message)
        if messages:
            REGISTRY_POSITION.set(self.log.head.position)
        return len(messages)

    def _append(self, message: Message) -> None:
        where = f"{self.topic}[{PARTITION}]@{message.offset()}"
        try:
            change = from_avro(self._codec.decode(SCHEMA, message.value() or b""))
        except (DecodeError, KeyError, ValueError, TypeError) as exc:
            self._fail(f"{where} cannot be read as a RegistryChange: {exc}")
        key = (message.key() or b"").decode("utf-8", "replace")
        if key != change.agent_id:
            self._fail(f"{where} has Kafka key {key!r} but is about agent {change.agent_id!r}", change.position)
        if change.signing_key_id not in self.log.public_keys and self._refresh_keys is not None:
            self.log.public_keys = self._refresh_keys()  # the keyring rotated since we started
        try:
            self.log.append(change)
        except RegistryIntegrityError as exc:
            REGISTRY_INTEGRITY_FAILURES.inc()
            log.error("registry entry %s does not verify: %s", where, exc)
            raise

    def _fail(self, problem: str, position: int | None = None) -> NoReturn:
        REGISTRY_INTEGRITY_FAILURES.inc()
        self.log.fail(problem, position)

    def close(self) -> None:
        self._consumer.close()

    def __enter__(self) -> RegistryFollower:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def load_registry(settings: Settings, bootstrap: str, public_keys: Mapping[str, bytes]) -> RegistryView:
    """The whole registry, read from the start to the end and verified entry by entry.

    RegistryIntegrityError naming the position of the first entry that does
    not verify; ConfigError if the topic is missing or misconfigured.
    """
    with RegistryFollower(settings, bootstrap, public_keys) as follower:
        return follower.view


ACTIVATION_DELAY_US = 2_000_000
"""A change takes effect this long after it is made (its valid_from is now + this).

Why: processors attribute an action by the registry as of the action's ingest
time, and must answer the same on a replay. A change that took effect at once
could be committed a few milliseconds after a processor had already judged an
action ingested after its valid_from -- the replay would then judge otherwise
and the chain would fork. With the delay, every change is readable before any
action it applies to can be ingested, provided the commit lands in time (the
writer aborts and starts again otherwise) and host clocks agree to well under
a second (NTP)."""
COMMIT_MARGIN_US = 1_000_000  # the commit must be done this long before valid_from


class RegistryWriter:
    """Appends changes to agent.registry, one writer at a time across every process.

    Contract of submit(): with a fresh transactional producer whose
    transactional.id is the same for every writer of this registry
    (f"{prefix}agentaudit-registry"), init_transactions() fences every other
    writer and completes or aborts what one of them left open; then the
    registry is read to its committed end and verified, the request is
    checked against that head and signed (RegistryLog.prepare), and the entry
    is produced and committed in one transaction. A writer fenced by another
    in the meantime cannot commit; it starts again from the top, so every
    committed entry was built on the head it extends: the chain never forks.
    A change keeps its change_id across attempts, so a commit that succeeded
    although it was reported as failed is found and not made twice.
    submit() returns once the entry is readable by read_committed readers.
    """

    def __init__(
        self, settings: Settings, bootstrap: str, keys: RegistryKeys, *,
        codec: Codec | None = None, clock: Callable[[], int] = _now_us, attempts: int = 8, timeout_s: float = 30.0,
    ) -> None:
        self._bootstrap = bootstrap
        self._keys = keys
        self._clock = clock
        self._attempts = attempts
        self._timeout_s = timeout_s
        self._transactional_id = f"{settings.topic_prefix}agentaudit-registry"
        self._codec = codec or make_codec(settings)
        self._follower = RegistryFollower(settings, bootstrap, keys.public_keys(), codec=self._codec,
                                          timeout_s=timeout_s, refresh_keys=keys.public_keys)
        self.topic = self._follower.topic
        self.control_topic = settings.topic(Topic.CONTROL)

    @property
    def log(self) -> RegistryLog:
        return self._follower.log

    def submit(self, request: ChangeRequest) -> RegistryChange:
        """Write one change; RegistryRefusal (nothing written) if the registry's rules forbid it."""
        change_id = uuid7()
        failure: KafkaException | None = None
        for attempt in range(1, self._attempts + 1):
            producer = Producer({
                "bootstrap.servers": self._bootstrap,
                "transactional.id": self._transactional_id,
                "transaction.timeout.ms": 30_000,  # a crashed writer holds readers' last stable offset at most this long
                "client.id": "agentaudit-registry-writer",
            })
            try:
                return self._attempt(producer, request, change_id)
            except RegistryRefusal as refusal:
                REGISTRY_REFUSED.labels(code=refusal.code).inc()
                raise
            except KafkaException as exc:
                failure = exc
                REGISTRY_WRITER_RETRIES.inc()
                log.warning("registry write attempt %d of %d failed (%s); starting again", attempt, self._attempts,
                            exc.args[0] if exc.args else exc)
                time.sleep(random.uniform(0.05, 0.25) * attempt)  # jitter: two writers stop taking turns to fence
            finally:
                del producer  # the last reference going away shuts the client down
        raise TransientError(f"could not write to {self.topic} in {self._attempts} attempts: {failure}")

    def _attempt(self, producer: Producer, request: ChangeRequest, change_id: str) -> RegistryChange:
        producer.init_transactions(self._timeout_s)
        self._follower.sync()
        earlier = self.log.change(change_id)
        if earlier is not None:  # an earlier attempt committed after all
            return earlier
        change = self.log.prepare(request, self._keys, self._clock() + ACTIVATION_DELAY_US, change_id)
        producer.begin_transaction()
        producer.produce(self.topic, self._codec.encode(SCHEMA, to_avro(change)), change.agent_id.encode("utf-8"),
                         partition=PARTITION)
        # The runtime's copy of the status, in the same transaction: a suspension
        # the registry holds always reaches agent.control, and only then.
        producer.produce(self.control_topic, self._codec.encode("AgentControl", control_of(change)),
                         change.agent_id.encode("utf-8"), partition=0)
        producer.flush(self._timeout_s)
        if self._clock() > change.valid_from_us - COMMIT_MARGIN_US:
            # Too late to be sure every processor reads it before it applies: start again, later.
            producer.abort_transaction(self._timeout_s)
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "registry change not committed in time; retrying"))
        producer.commit_transaction(self._timeout_s)
        producer.poll(0)  # serve the delivery report, or librdkafka logs it as unserved at shutdown
        REGISTRY_CHANGES.labels(kind=change.kind.value).inc()
        self._await_visible(change_id)
        return change

    def _await_visible(self, change_id: str) -> None:
        """Wait until read_committed readers see the entry (the transaction markers land just after the commit)."""
        deadline = time.monotonic() + self._timeout_s
        while self.log.change(change_id) is None:
            if time.monotonic() > deadline:
                raise TransientError(f"change {change_id} committed but not readable from {self.topic} "
                                     f"after {self._timeout_s}s")
            if self._follower.sync() == 0:
                time.sleep(0.02)

    def close(self) -> None:
        self._follower.close()

    def __enter__(self) -> RegistryWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
