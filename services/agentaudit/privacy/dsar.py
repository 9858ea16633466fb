"""Data-subject requests: find a subject's records (decrypted where their key lives) and erase the subject.

Erasure is crypto-shredding: the subject's keys are replaced by erasure
markers on privacy.subject-keys, and compaction removes the key material
(topics.py). The markers are written by the processor, where a signed erase
control sent here sits in agent.actions (erasure.py): the one writer of a
partition's keys, at a fixed place in the stream, so a replay never forks.
The stored records are not touched -- nothing in the pipeline updates or
deletes audit rows (invariant 5) -- and the chains cover the ciphertext,
so every chain and seal still verifies; the encrypted fields
simply cannot be read any more. Hashed fields (the policy's `hash`) stay:
they are pseudonyms, joinable by design, and are not what erasure reaches.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.evidence.values import ValueReader
from agentaudit.privacy.erasure import ERASE_KEY, Erasure, Signer
from agentaudit.privacy.keys import KeyEntry, open_key, read_entries
from agentaudit.privacy.redact import reveal
from agentaudit.privacy.requests import DsarRequest, check, deliver, producer, record
from agentaudit.privacy.tokens import SubjectCipher, TokenError, parse_token, pepper, value_hash
from agentaudit.settings import Settings
from agentaudit.store.client import translate_errors
from agentaudit.topics import Topic

_FIND = (
    "SELECT event_id, agent_id, chain_position, toUnixTimestamp64Micro(ingest_time), record "
    "FROM {database:Identifier}.audit_records "
    "WHERE tenant_id = {tenant:String} AND has(subject_ids, {subject:String}) "
    "AND ingest_time >= {since:DateTime64(6)} AND ingest_time < {until:DateTime64(6)} "
    "ORDER BY ingest_time, agent_id, chain_position"
)


def subject_ref(kek: bytes, tenant_id: str, subject: str) -> str:
    """The subject as records name it (Redaction.subject_ref): never stored or logged in clear."""
    return value_hash(pepper(kek, tenant_id), subject)


@dataclass(frozen=True)
class Found:
    """One of the subject's records, its encrypted fields opened or marked as erased."""

    event_id: str
    agent_id: str
    position: int
    ingest_us: int
    action: dict[str, Any]
    redaction: dict[str, Any]
    unreadable: tuple[str, ...]  # places whose key is erased (or missing)


class SubjectKeyring:
    """The subject's keys, by key id, as privacy.subject-keys holds them now."""

    def __init__(self, kek: bytes, entries: list[KeyEntry]) -> None:
        self._kek = kek
        self.entries = {e.key_id: e for e in entries}
        self._ciphers: dict[str, SubjectCipher] = {}

    def opener(self, tenant_id: str, event_id: str, unreadable: list[str]) -> Any:
        def decrypt(place: str, token: str) -> str:
            key_id = parse_token(token)[0]
            entry = self.entries.get(key_id)
            if entry is None or entry.wrapped is None:
                unreadable.append(place)
                return _gone(key_id, entry)
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                cipher = self._ciphers[key_id] = open_key(self._kek, entry)
            return cipher.decrypt(tenant_id, event_id, place, token)

        return decrypt


def _gone(key_id: str, entry: KeyEntry | None) -> str:
    if entry is None or entry.erased is None:
        return f"[unreadable: key {key_id} not found]"
    erased = entry.erased
    when = datetime.fromtimestamp(erased["at_us"] / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (f"[erased on {when} by {erased['actor']}, approved by {erased['approver']} "
            f"(request {erased['request_id']})]")


def subject_entries(settings: Settings, bootstrap: str, tenant_id: str, ref: str,
                    partitions: list[int] | None = None) -> list[KeyEntry]:
    return [e for e in read_entries(bootstrap, settings.topic(Topic.SUBJECT_KEYS), partitions)
            if e.tenant_id == tenant_id and e.subject_ref == ref]


def find(
    settings: Settings, bootstrap: str, client: Client, reader: ValueReader, kek: bytes, request: DsarRequest,
    since: datetime, until: datetime,
) -> Iterator[Found]:
    """The subject's records in [since, until), after the lookup is logged; each decrypted where it can be."""
    check(request)
    keyring = SubjectKeyring(kek, subject_entries(settings, bootstrap, request.tenant_id, request.subject_ref))
    params = {"database": settings.clickhouse_database, "tenant": request.tenant_id,
              "subject": request.subject_ref, "since": since, "until": until}
    with translate_errors("finding a data subject's records"):
        rows = client.query(_FIND, parameters=params, column_formats={"record": "bytes"}).result_rows
    out = producer(settings, bootstrap)
    record(settings, out, replace(request, outcome={"records": len(rows), "keys": sorted(keyring.entries)}))
    for event_id, agent_id, position, ingest_us, value in rows:
        stored = reader.decode("AuditRecord", bytes(value))
        unreadable: list[str] = []
        try:
            action = reveal(stored["action"], stored["redaction"],
                            keyring.opener(request.tenant_id, str(event_id), unreadable))
        except TokenError as exc:  # altered or misplaced ciphertext: say so, show the rest as stored
            action, unreadable = stored["action"], [f"undecryptable: {exc}"]
        yield Found(str(event_id), agent_id, int(position), int(ingest_us), action, stored["redaction"],
                    tuple(unreadable))


@dataclass(frozen=True)
class Erased:
    """What `erase` did: the key ids it asked the processor to erase, and those not erased when it stopped waiting."""

    requested: list[str]
    pending: list[str]

    @property
    def pending_partitions(self) -> list[int]:
        return sorted({int(key_id.split(".")[0]) for key_id in self.pending})


Progress = Callable[[int, int], None]  # (keys erased so far, keys asked for)


def erase(settings: Settings, bootstrap: str, kek: bytes, request: DsarRequest, signer: Signer,
          wait_s: float = 60.0, progress: Progress | None = None) -> Erased:
    """Log the erasure, send a signed erase control to each agent.actions partition where the subject has a
    live key, naming those keys' generations, then wait until the processor has marked them all erased.

    Running it again is safe: it names only generations still live, and the
    processor ignores a generation already erased.
    """
    check(request)
    live = [e for e in subject_entries(settings, bootstrap, request.tenant_id, request.subject_ref)
            if e.wrapped is not None]
    requested = sorted(e.key_id for e in live)
    out = producer(settings, bootstrap)
    record(settings, out, replace(request, outcome={"keys_erased": requested}))
    generations: dict[int, list[int]] = {}
    for entry in live:
        generations.setdefault(entry.partition, []).append(entry.generation)
    controls = [
        (ERASE_KEY, Erasure(request.tenant_id, request.subject_ref, partition, tuple(sorted(named)),
                            request.request_id, request.at_us, request.actor, request.approver or "").control(signer),
         partition)
        for partition, named in sorted(generations.items())
    ]
    deliver(out, settings.topic(Topic.ACTIONS), controls, f"sending the erasure of subject {request.subject_ref}")
    return Erased(requested, wait_erased(settings, bootstrap, request, requested, wait_s, progress))


def wait_erased(settings: Settings, bootstrap: str, request: DsarRequest, key_ids: list[str], wait_s: float,
                progress: Progress | None = None, poll_s: float = 1.0) -> list[str]:
    """Wait until each of the subject's key ids is an erasure marker; those that are not when wait_s is up."""
    if not key_ids:
        return []
    partitions = sorted({int(key_id.split(".")[0]) for key_id in key_ids})
    deadline = time.monotonic() + wait_s
    while True:
        entries = {e.key_id: e for e in subject_entries(settings, bootstrap, request.tenant_id,
                                                         request.subject_ref, partitions)}
        pending = [k for k in key_ids if k not in entries or entries[k].erased is None]
        if not pending or time.monotonic() >= deadline:
            return pending
        if progress is not None:
            progress(len(key_ids) - len(pending), len(key_ids))
        time.sleep(poll_s)
