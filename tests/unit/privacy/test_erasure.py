"""Erase controls in the processor's batches: the key an input uses is a function of the stream alone.

A fake broker stands in for Kafka: outputs, chain state and subject keys become
durable when the handler flushes, and a crash is a flush that never returns,
so a restarted handler sees exactly what a real restart would.
"""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from agentaudit.chain.state import ChainState
from agentaudit.codec import SingleObjectCodec
from agentaudit.privacy.erasure import ERASE_KEY, Erasure, parse_control
from agentaudit.privacy.keys import KeyEntry, SubjectKeys
from agentaudit.privacy.stage import PrivacyStage
from agentaudit.privacy.tokens import parse_token
from agentaudit.process.app import BatchHandler
from agentaudit.process.state_store import ERASURES_KEY, NO_WATERMARK, WATERMARK_KEY, StateStore
from agentaudit.process.validate import LOG_APPEND_TIME
from agentaudit.errors import PermanentError
from agentaudit.settings import Settings
from agentaudit.topics import Topic
from tests.chain_support import TestSigner
from tests.identity_support import NoSecrets, StaticRegistry, signed
from tests.unit.privacy.support import KEK, redactor
from tests.unit.privacy.test_handler import pii
from tests.unit.process.test_validate import INGEST_MS

CODEC = SingleObjectCodec()
SETTINGS = Settings(topic_prefix="p.")
P = 3  # the agent.actions partition under test
ACTIONS, RECORDS, REJECTED = (SETTINGS.topic(t) for t in (Topic.ACTIONS, Topic.RECORDS, Topic.REJECTED))
KEYS, STATE = SETTINGS.topic(Topic.SUBJECT_KEYS), SETTINGS.topic(Topic.PROCESS_STATE)


class Crash(BaseException):
    """The process dies inside a flush: what was queued since the last flush is lost."""


class Broker:
    """Every durable message, in the order the broker acknowledged them: (topic, partition, key, value)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int, bytes, bytes | None]] = []

    def on(self, topic: str, partition: int = P) -> list[tuple[bytes, bytes | None]]:
        return [(k, v) for t, p, k, v in self.log if t == topic and p == partition]

    def index(self, topic: str, key: bytes, value: bytes | None = None) -> int:
        return next(i for i, (t, _p, k, v) in enumerate(self.log) if t == topic and k == key
                    and (value is None or v == value))

    def key_entries(self) -> list[KeyEntry]:
        return [KeyEntry.from_json(v) for _k, v in self.on(KEYS) if v]


class FakeProducer:
    """Queues until flush(); the flush numbered crash_at (from 1) dies instead."""

    def __init__(self, broker: Broker, crash_at: int | None = None) -> None:
        self.broker, self.crash_at, self.flushes = broker, crash_at, 0
        self.queued: list[tuple[str, int, bytes, bytes | None]] = []

    def produce(self, topic: str, value: bytes | None, key: bytes, partition: int, on_delivery: Any = None) -> None:
        self.queued.append((topic, partition, key, value))

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float = 0) -> int:
        self.flushes += 1
        if self.flushes == self.crash_at:
            raise Crash
        self.broker.log.extend(self.queued)
        self.queued.clear()
        return 0


class FakeStore(StateStore):
    def load(self, partition: int, timeout_s: float = 60.0) -> tuple[dict[str, ChainState], int, bytes]:
        broker: Broker = self.producer.broker  # type: ignore[attr-defined]
        states, watermark, erasures = {}, NO_WATERMARK, b""
        for key, value in broker.on(STATE, partition):
            if key == WATERMARK_KEY:
                watermark = int(value or b"-1")
            elif key == ERASURES_KEY:
                erasures = value or b""
            elif value:
                states[key.decode()] = ChainState.from_json(value)
        return states, watermark, erasures


class FakeKeys(SubjectKeys):
    def load(self, partition: int) -> None:
        broker: Broker = self.producer.broker  # type: ignore[attr-defined]
        self.add([KeyEntry.from_json(v) for _k, v in broker.on(KEYS, partition) if v], partition)


def handler(broker: Broker, signer: TestSigner, crash_at: int | None = None) -> BatchHandler:
    """A processor (re)started over the broker's durable state."""
    producer = FakeProducer(broker, crash_at)
    keys = FakeKeys(SETTINGS, "127.0.0.1:9", producer, KEK)  # type: ignore[arg-type]
    store = FakeStore(SETTINGS, "127.0.0.1:9", producer)  # type: ignore[arg-type]
    return BatchHandler(SETTINGS, CODEC, producer, store,  # type: ignore[arg-type]
                        signer, StaticRegistry("agent-1"), NoSecrets(), privacy=PrivacyStage(redactor(), keys),
                        pipeline_keys=signer.public_keys)


def event(offset: int, key: bytes, value: bytes, partition: int = P) -> Any:
    message = SimpleNamespace(topic=ACTIONS, partition=partition, offset=offset, key=key, value=value,
                              timestamp=(INGEST_MS + offset) / 1000, timestamp_type=LOG_APPEND_TIME)
    return SimpleNamespace(message=message)


def alice(offset: int) -> Any:
    """alice's action number `offset` (an encrypted resource), at that offset."""
    value = CODEC.encode("AgentAction", signed(pii(event_id=f"01934b6e-1c2a-7c3d-8e4f-{offset:012d}",
                                                   sequence=offset + 1, agent_time=INGEST_MS * 1000 - 1500)))
    return event(offset, b"agent-1", value)


def subject() -> str:
    ref = redactor().subject_ref(pii())
    assert ref is not None
    return ref


def erasure(generations: tuple[int, ...] = (0,), partition: int = P, request_id: str = "req-1") -> Erasure:
    return Erasure("acme", subject(), partition, generations, request_id, 1_700_000_000_000_000, "dpo@acme",
                   "legal@acme")


def control(offset: int, value: bytes) -> Any:
    return event(offset, ERASE_KEY, value)


def run(h: BatchHandler, *events: Any) -> None:
    asyncio.run(h(list(events)))


def key_of(broker: Broker, offset: int) -> str:
    """The key id the record of input `offset` encrypted alice's resource under."""
    for _k, value in broker.on(RECORDS):
        record = CODEC.decode("AuditRecord", value or b"")
        if record["source"]["offset"] == offset:
            return parse_token(record["action"]["resource"])[0]
    raise AssertionError(f"no record of offset {offset}")


def records(broker: Broker) -> dict[int, bytes]:
    return {CODEC.decode("AuditRecord", v or b"")["source"]["offset"]: v or b"" for _k, v in broker.on(RECORDS)}


def erased(broker: Broker) -> dict[str, str]:
    """key id -> the request that erased it, as privacy.subject-keys says now."""
    newest = {e.key_id: e for e in broker.key_entries()}
    return {k: e.erased["request_id"] for k, e in newest.items() if e.erased is not None}


@pytest.fixture
def signer() -> TestSigner:
    return TestSigner()


@pytest.fixture
def broker(signer: TestSigner) -> Broker:
    """alice has generation 0 on partition P: her first action, processed and checkpointed."""
    b = Broker()
    run(handler(b, signer), alice(0))
    assert key_of(b, 0) == f"{P}.0"
    return b


def test_inputs_after_the_control_use_the_next_generation_and_markers_follow_the_checkpoint(
    broker: Broker, signer: TestSigner,
) -> None:
    run(handler(broker, signer), alice(1), control(2, erasure().control(signer)), alice(3))
    assert (key_of(broker, 1), key_of(broker, 3)) == (f"{P}.0", f"{P}.1")
    assert erased(broker) == {f"{P}.0": "req-1"}
    marker = next(i for i, (t, _p, _k, v) in enumerate(broker.log) if t == KEYS and b'"erased"' in (v or b""))
    assert broker.index(STATE, WATERMARK_KEY, b"3") < marker, "a marker was written before its checkpoint"
    assert broker.on(STATE)[-1] == (ERASURES_KEY, None)  # the checkpoint no longer carries it
    assert not broker.on(REJECTED)


def test_a_crash_before_the_checkpoint_replays_byte_identical_records(broker: Broker, signer: TestSigner) -> None:
    batch = (alice(1), control(2, erasure().control(signer)), alice(3))
    # flushes: 1 the new key (durable before use), 2 the outputs, 3 the checkpoint -- which never lands
    with pytest.raises(Crash):
        run(handler(broker, signer, crash_at=3), *batch)
    first = records(broker)
    assert set(first) == {0, 1, 3} and erased(broker) == {}  # outputs acknowledged, no marker yet
    run(handler(broker, signer), *batch)  # restarted from the previous checkpoint
    replayed = [v for _k, v in broker.on(RECORDS)][len(first):]
    assert replayed == [first[1], first[3]], "the replay forked the chain"
    assert [e.key_id for e in broker.key_entries() if e.wrapped] == [f"{P}.0", f"{P}.1"]  # no key made twice
    assert erased(broker) == {f"{P}.0": "req-1"}


@pytest.mark.parametrize("meets_alice_after", [True, False])
def test_a_crash_between_checkpoint_and_markers_writes_them_on_restart(
    broker: Broker, signer: TestSigner, meets_alice_after: bool,
) -> None:
    batch = [control(1, erasure().control(signer))] + ([alice(2)] if meets_alice_after else [])
    # flushes: [the new key], the outputs, the checkpoint, then the markers -- which never land
    with pytest.raises(Crash):
        run(handler(broker, signer, crash_at=4 if meets_alice_after else 3), *batch)
    assert erased(broker) == {} and (ERASURES_KEY, None) not in broker.on(STATE)
    assert any(k == ERASURES_KEY and v for k, v in broker.on(STATE)), "the checkpoint does not carry the markers"
    restarted = handler(broker, signer)
    run(restarted, *batch, alice(3))  # the batch again (below the watermark, skipped), then a new action
    assert erased(broker) == {f"{P}.0": "req-1"}
    assert key_of(broker, 3) == f"{P}.1", "an action after the erasure used the erased key"
    assert (ERASURES_KEY, None) in broker.on(STATE)  # and the checkpoint no longer carries them


def test_a_forged_or_misdirected_control_erases_nothing_and_is_kept_as_a_rejection(
    broker: Broker, signer: TestSigner,
) -> None:
    forged = erasure().control(TestSigner())  # well formed, signed by a key that is not the pipeline's
    unsigned = json.dumps({"erasure": json.loads(erasure().body())}).encode()
    elsewhere = erasure(partition=P + 1).control(signer)  # a genuine control copied to another partition
    tampered = erasure().control(signer).replace(b"req-1", b"req-2")
    bad = [forged, unsigned, elsewhere, tampered, b"", b"\xff not json"]
    run(handler(broker, signer), *(control(1 + i, value) for i, value in enumerate(bad)), alice(1 + len(bad)))
    assert key_of(broker, 1 + len(bad)) == f"{P}.0" and erased(broker) == {}
    rejections = [CODEC.decode("Rejection", v or b"") for _k, v in broker.on(REJECTED)]
    assert [r["original"] for r in rejections] == bad
    assert {r["reason_code"] for r in rejections} == {"bad_erasure"}
    assert {r["agent_id"] for r in rejections} == {None}  # no chain state for the control key
    assert all(r["key"] == ERASE_KEY for r in rejections)


def test_a_control_names_generations_so_a_second_one_never_erases_a_newer_key(
    broker: Broker, signer: TestSigner,
) -> None:
    run(handler(broker, signer), control(1, erasure().control(signer)), alice(2),
        control(3, erasure(request_id="req-2").control(signer)), alice(4))
    assert (key_of(broker, 2), key_of(broker, 4)) == (f"{P}.1", f"{P}.1")
    assert erased(broker) == {f"{P}.0": "req-1"}  # the first erasure's marker stands


def test_a_control_round_trips_and_binds_its_partition(signer: TestSigner) -> None:
    e = erasure(generations=(0, 2))
    assert parse_control(e.control(signer)).verified(signer.public_keys(), P) == e
    with pytest.raises(PermanentError, match="read from partition"):
        parse_control(e.control(signer)).verified(signer.public_keys(), P + 1)
    with pytest.raises(PermanentError, match="not signed"):
        parse_control(e.control(signer)).verified(TestSigner().public_keys(), P)


def test_a_control_signed_by_a_key_rotated_in_after_start_up_is_accepted(broker: Broker, signer: TestSigner) -> None:
    h = handler(broker, signer)
    signer.rotate()
    run(h, control(1, erasure().control(signer)), alice(2))
    assert key_of(broker, 2) == f"{P}.1" and not broker.on(REJECTED)


def test_an_unreadable_keyring_refuses_the_control_without_stopping(broker: Broker, signer: TestSigner) -> None:
    h = handler(broker, signer)
    h.pipeline_keys = lambda: (_ for _ in ()).throw(OSError("keyring gone"))
    signer.rotate()
    run(h, control(1, erasure().control(signer)), alice(2))
    assert key_of(broker, 2) == f"{P}.0"
    assert CODEC.decode("Rejection", broker.on(REJECTED)[0][1] or b"")["reason_code"] == "bad_erasure"
