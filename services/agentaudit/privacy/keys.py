"""Subject keys: random 256-bit keys, wrapped with the KEK, on the compacted topic privacy.subject-keys.

One key per (tenant, subject, agent.actions partition, generation), named by
"PARTITION.GENERATION" inside the subject's entries. Where and why:

- A compacted Kafka topic rather than ClickHouse (append-only by design here,
  invariant 5: a delete there is exactly what the pipeline must never do) or
  files (each processor replica would hold its own). Every replica and
  `agentaudit dsar` read the same log; erasure writes a newer value for the
  key's entry, and compaction removes the old value -- the only copy of the
  key material -- within max.compaction.lag.ms (topics.py). Backups of the
  topic are outside what erasure can reach: keep none, or keep them under
  the same deadline.
- Per input partition: the processor that owns a partition is the only
  writer of its keys, exactly as for chain state, so two replicas never race
  to create one subject's key (a subject acted for by agents on two
  partitions simply has two keys; erasure deletes both).
- Created before use, and durable before anything encrypted under it is
  written: the processor stops at a subject without a key, writes the key,
  waits for the broker's acknowledgement, then renders the action. A crash can
  then only replay records under a key that exists, and the deterministic
  encryption (tokens.py) makes the replay byte-identical (invariant 4).
- Erased keys leave a marker (who, when, which request) rather than a
  tombstone: `dsar find` says "erased on ... by ...", and a processor that
  meets the subject again starts the next generation instead of reusing it.
- Erasure follows the stream (erasure.py): the processor erases a generation
  in memory where the erase control sits in agent.actions, and writes its
  marker after the checkpoint that covers the control. Until then the
  generation is live on the topic, and a key created after the control
  (the next generation) may be too. The key an input uses is therefore the
  subject's *oldest* live generation, not its newest: a generation exists only
  once the one before it was erased, so every older generation is marked on
  the topic, or pending in the checkpoint (erased again on load), or erased
  by a control the replay meets again before the input that needs the newer
  one.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, Producer, TopicPartition

from agentaudit.crypto.seal import seal, unseal
from agentaudit.errors import TransientError
from agentaudit.privacy.tokens import DEK_SIZE, SubjectCipher
from agentaudit.settings import Settings
from agentaudit.topics import Topic

log = logging.getLogger(__name__)

CONTEXT = "subject-key"  # what a wrapped key is bound to, with the tenant, subject and key id
CIPHERS_KEPT = 65536  # unwrapped keys kept per processor; the rest are unwrapped again when met

DeliveryCallback = Callable[[KafkaError | None, Message], None]


class NeedSubjectKey(Exception):  # noqa: N818 -- a signal, not an error: the handler creates the key and retries
    """Raised by the processor's render before any state change: this subject has no usable key yet."""

    def __init__(self, partition: int, tenant_id: str, subject_ref: str) -> None:
        super().__init__(f"no key for subject {subject_ref} of tenant {tenant_id} on partition {partition}")
        self.partition, self.tenant_id, self.subject_ref = partition, tenant_id, subject_ref


@dataclass(frozen=True)
class KeyEntry:
    """One value of privacy.subject-keys: a wrapped key, or the marker its erasure left."""

    tenant_id: str
    subject_ref: str
    partition: int
    generation: int
    wrapped: bytes | None = None
    erased: dict[str, Any] | None = None  # {"request_id", "at_us", "actor", "approver"}

    @property
    def key_id(self) -> str:
        return f"{self.partition}.{self.generation}"

    @property
    def message_key(self) -> bytes:
        return f"{self.tenant_id}\x00{self.subject_ref}\x00{self.key_id}".encode()

    def to_json(self) -> bytes:
        data: dict[str, Any] = {"tenant_id": self.tenant_id, "subject_ref": self.subject_ref,
                                "partition": self.partition, "generation": self.generation}
        if self.wrapped is not None:
            data["wrapped"] = base64.b64encode(self.wrapped).decode("ascii")
        if self.erased is not None:
            data["erased"] = self.erased
        return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> KeyEntry:
        d = json.loads(data)
        wrapped = base64.b64decode(d["wrapped"]) if "wrapped" in d else None
        return cls(d["tenant_id"], d["subject_ref"], d["partition"], d["generation"], wrapped, d.get("erased"))

    def erase(self, request_id: str, at_us: int, actor: str, approver: str) -> KeyEntry:
        marker = {"request_id": request_id, "at_us": at_us, "actor": actor, "approver": approver}
        return KeyEntry(self.tenant_id, self.subject_ref, self.partition, self.generation, None, marker)


def wrap(kek: bytes, dek: bytes, entry: KeyEntry) -> bytes:
    return seal(kek, dek, CONTEXT, entry.tenant_id, entry.subject_ref, entry.key_id)


def open_key(kek: bytes, entry: KeyEntry) -> SubjectCipher:
    assert entry.wrapped is not None
    return SubjectCipher(entry.key_id, unseal(kek, entry.wrapped, CONTEXT, entry.tenant_id, entry.subject_ref,
                                              entry.key_id))


def read_entries(
    bootstrap: str, topic: str, partitions: Iterable[int] | None = None, timeout_s: float = 60.0
) -> list[KeyEntry]:
    """The newest value of every key entry in the given partitions (all when None), read to their end."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"agentaudit-subject-keys-{uuid.uuid4()}",
                         "enable.auto.commit": False, "client.id": "agentaudit-subject-keys"})
    started = time.monotonic()
    try:
        if partitions is None:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10.0)
            if high > low:
                ends[p] = high
        newest: dict[bytes, KeyEntry] = {}
        if not ends:
            return []
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        position = dict.fromkeys(ends, 0)
        while any(position[p] < ends[p] for p in ends):
            if time.monotonic() - started > timeout_s:
                raise TransientError(f"reading {topic} took over {timeout_s:.0f}s")
            for msg in consumer.consume(1000, timeout=0.5):
                error = msg.error()
                if error is not None:
                    raise TransientError(f"reading {topic}: {error}")
                p = int(msg.partition() or 0)
                position[p] = int(msg.offset() or 0) + 1
                key, value = msg.key(), msg.value()
                if key and value:
                    newest[key] = KeyEntry.from_json(value)
        return list(newest.values())
    finally:
        consumer.close()


class SubjectKeys:
    """The subject keys of the partitions one processor owns: loaded on assignment, created on first need.

    create() only queues the new key; the caller flushes the producer and
    renders nothing under the key before the broker acknowledged it. erase()
    only changes memory; the caller writes the markers it leaves pending
    (pending(), write_pending()) after the checkpoint of the batch that erased.
    """

    def __init__(self, settings: Settings, bootstrap: str, producer: Producer, kek: bytes) -> None:
        self.topic = settings.topic(Topic.SUBJECT_KEYS)
        self.bootstrap = bootstrap
        self.producer = producer
        self._kek = kek
        # partition -> (tenant, subject) -> generation -> its entry (a key, or the marker of its erasure)
        self._entries: dict[int, dict[tuple[str, str], dict[int, KeyEntry]]] = {}
        self._pending: dict[int, list[KeyEntry]] = {}  # partition -> markers erased in memory, not yet written
        self._ciphers: OrderedDict[tuple[str, str, str], SubjectCipher] = OrderedDict()

    def load(self, partition: int) -> None:
        self.add(read_entries(self.bootstrap, self.topic, [partition]), partition)
        log.info("loaded the keys of %d subjects of partition %d", len(self._entries[partition]), partition)

    def add(self, entries: Iterable[KeyEntry], partition: int) -> None:
        """Entries as read from the topic, oldest value first."""
        subjects = self._entries.setdefault(partition, {})
        for entry in entries:
            subjects.setdefault((entry.tenant_id, entry.subject_ref), {})[entry.generation] = entry

    def loaded(self, partition: int) -> bool:
        return partition in self._entries

    def forget(self, partition: int) -> None:
        self._entries.pop(partition, None)
        self._pending.pop(partition, None)

    def cipher(self, partition: int, tenant_id: str, subject_ref: str) -> SubjectCipher | None:
        """The subject's current key on this partition (its oldest live generation); None when it has none."""
        entry = self._current(partition, tenant_id, subject_ref)
        if entry is None:
            return None
        cached = (tenant_id, subject_ref, entry.key_id)
        found = self._ciphers.get(cached)
        if found is None:
            found = self._ciphers[cached] = open_key(self._kek, entry)
            if len(self._ciphers) > CIPHERS_KEPT:
                self._ciphers.popitem(last=False)
        else:
            self._ciphers.move_to_end(cached)
        return found

    def _current(self, partition: int, tenant_id: str, subject_ref: str) -> KeyEntry | None:
        generations = self._entries[partition].get((tenant_id, subject_ref), {})
        live = [entry for entry in generations.values() if entry.wrapped is not None]
        return min(live, key=lambda entry: entry.generation, default=None)

    def create(self, need: NeedSubjectKey, on_delivery: DeliveryCallback) -> None:
        """Queue a fresh key for the subject: the generation after its newest (erased) one, or 0."""
        generations = self._entries[need.partition].setdefault((need.tenant_id, need.subject_ref), {})
        entry = KeyEntry(need.tenant_id, need.subject_ref, need.partition, max(generations, default=-1) + 1)
        entry = KeyEntry(entry.tenant_id, entry.subject_ref, entry.partition, entry.generation,
                         wrap(self._kek, secrets.token_bytes(DEK_SIZE), entry))
        self._produce(entry, on_delivery)
        generations[entry.generation] = entry

    def erase(self, partition: int, tenant_id: str, subject_ref: str, generations: Iterable[int],
              marker: dict[str, Any]) -> list[KeyEntry]:
        """Erase the named generations in memory, at once; the markers this left pending (none for a generation
        unknown or already erased: the first erasure's marker stands)."""
        known = self._entries[partition].get((tenant_id, subject_ref), {})
        erased = []
        for generation in generations:
            entry = known.get(generation)
            if entry is not None and entry.wrapped is not None:
                known[generation] = entry.erase(marker["request_id"], marker["at_us"], marker["actor"],
                                                marker["approver"])
                erased.append(known[generation])
        self._pending.setdefault(partition, []).extend(erased)
        return erased

    def pending(self, partition: int) -> list[KeyEntry]:
        """Markers of this partition's in-memory erasures, to write once the checkpoint covering them is durable."""
        return list(self._pending.get(partition, ()))

    def write_pending(self, partition: int, on_delivery: DeliveryCallback) -> None:
        """Queue this partition's pending markers (the caller flushes)."""
        for marker in self._pending.pop(partition, []):
            self._produce(marker, on_delivery)

    def _produce(self, entry: KeyEntry, on_delivery: DeliveryCallback) -> None:
        while True:
            try:
                self.producer.produce(self.topic, entry.to_json(), entry.message_key, partition=entry.partition,
                                      on_delivery=on_delivery)
                return
            except BufferError:
                self.producer.poll(0.1)
