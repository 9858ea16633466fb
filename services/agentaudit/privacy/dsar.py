"""Data-subject requests: find a subject's records (decrypted where their key lives) and erase the subject.

Erasure is crypto-shredding: the subject's keys are replaced by erasure
markers on privacy.subject-keys, and compaction removes the key material
(topics.py). The stored records are not touched -- nothing in the pipeline
updates or deletes audit rows (invariant 5) -- and the chains cover the
ciphertext, so every chain and seal still verifies; the encrypted fields
simply cannot be read any more. Hashed fields (the policy's `hash`) stay:
they are pseudonyms, joinable by design, and are not what erasure reaches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.evidence.values import ValueReader
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


def subject_entries(settings: Settings, bootstrap: str, tenant_id: str, ref: str) -> list[KeyEntry]:
    return [e for e in read_entries(bootstrap, settings.topic(Topic.SUBJECT_KEYS))
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


def erase(settings: Settings, bootstrap: str, kek: bytes, request: DsarRequest) -> list[str]:
    """Log the erasure, then replace every live key of the subject by its erasure marker; the key ids erased."""
    check(request)
    live = [e for e in subject_entries(settings, bootstrap, request.tenant_id, request.subject_ref)
            if e.wrapped is not None]
    erased = sorted(e.key_id for e in live)
    out = producer(settings, bootstrap)
    record(settings, out, replace(request, outcome={"keys_erased": erased}))
    markers = [e.erase(request.request_id, request.at_us, request.actor, request.approver or "") for e in live]
    deliver(out, settings.topic(Topic.SUBJECT_KEYS), [(m.message_key, m.to_json(), m.partition) for m in markers],
            f"erasing the keys of subject {request.subject_ref}")
    return erased
