"""`agentaudit export`: writes an evidence bundle from ClickHouse.

Selects through verify's own range definition (verify.store.range_query), so
a bundle holds exactly the records, seals and anchor seal that `agentaudit
verify --since/--until` would check, and verifying the bundle offline gives
the same answer as verifying the database. Records stream from ClickHouse to
the file block by block; memory stays flat however long the range.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit import __version__
from agentaudit.chain.seal import SealForm, SealSigner
from agentaudit.codec import load_schemas
from agentaudit.errors import ConfigError
from agentaudit.evidence.formats import (
    BUNDLE_FORMAT,
    KEYS_FILE,
    MANIFEST_FILE,
    RECORDS_FILE,
    SEALS_FILE,
    SIGNATURE_FILE,
    FormatError,
    b64,
    iso_us,
)
from agentaudit.evidence.lines import record_decoded_fields, seal_fields
from agentaudit.evidence.manifest import AgentSummary, manifest_bytes, sign_manifest
from agentaudit.evidence.values import Resolver, ValueReader
from agentaudit.query.timeparse import to_micros
from agentaudit.settings import Settings
from agentaudit.store.client import translate_errors
from agentaudit.verify.agents import EPOCH, FAR_FUTURE
from agentaudit.verify.store import RANGE_SEALS, range_query

_RECORDS = """
WITH BOUNDS
SELECT agent_id, chain_position, chain_prev_hash, chain_hash, record
FROM chosen
ORDER BY agent_id, chain_position, ingest_time, event_id
"""

_COUNT = """
WITH BOUNDS
SELECT count() FROM chosen
"""

_DAY_US = 86_400 * 1_000_000

_BYTES: dict[str, str | dict[str, str]] = {"record": "bytes", "chain_prev_hash": "bytes", "chain_hash": "bytes", "seal": "bytes", "agent_id": "string"}


@dataclass
class ExportResult:
    directory: Path
    key_id: str
    agents: dict[str, AgentSummary] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(a.records for a in self.agents.values())

    @property
    def seals(self) -> int:
        return sum(a.seals for a in self.agents.values())

    def agent(self, agent_id: str) -> AgentSummary:
        return self.agents.setdefault(agent_id, AgentSummary(agent_id))


class _HashingWriter:
    """Writes a new file (never an existing one), hashing and counting what it writes."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self._file = path.open("xb")
        self._sha = hashlib.sha256()
        self.size = 0
        self.lines = 0

    def line(self, document: Mapping[str, Any]) -> None:
        data = (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        self.write(data)
        self.lines += 1

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._sha.update(data)
        self.size += len(data)

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "sha256": self._sha.hexdigest(), "bytes": self.size}
        if self.name.endswith(".jsonl"):
            entry["lines"] = self.lines
        return entry

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def prepare_directory(out: Path) -> None:
    """Create out, or accept it empty; anything in it already is refused, never overwritten or mixed in."""
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"{out} exists and is not a directory")
        if any(out.iterdir()):
            raise ConfigError(f"{out} is not empty: export writes a whole bundle into an empty or new directory")
    else:
        # Records can hold personal data (action parameters): readable by the owner only until shared.
        out.mkdir(parents=True, mode=0o700)


def registry_resolver(settings: Settings) -> Resolver | None:
    """How the exporter maps a registry schema id to a shipped schema, when the pipeline uses a registry."""
    if not settings.schema_registry_url:
        return None
    from fastavro.schema import fingerprint, to_parsing_canonical_form

    from agentaudit.codec.registry import RegistryCodec

    codec = RegistryCodec.from_url(settings.schema_registry_url, auto_register=False)

    def resolve(schema_id: int) -> bytes:
        fetched = codec.client.get_schema(schema_id)
        canonical = to_parsing_canonical_form(json.loads(fetched.schema_str or "null"))
        return bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))

    return resolve


def _record_line(reader: ValueReader, agent_id: str, position: int, prev: bytes, hash_: bytes,
                 value: bytes) -> dict[str, Any]:
    line: dict[str, Any] = {"agent_id": agent_id, "position": position}
    try:
        line.update(record_decoded_fields(reader.decode("AuditRecord", value)))
    except FormatError as exc:
        # Still exported: hiding a damaged record would hide the tampering the
        # auditor is looking for. Verification reports it.
        line["undecodable"] = str(exc)
    line.update({"prev_hash": prev.hex(), "hash": hash_.hex(), "value": b64(value)})
    return line


def _seal_line(reader: ValueReader, form: SealForm, agent_id: str, seq: int, value: bytes) -> dict[str, Any]:
    try:
        seal = reader.decode("Seal", value)
        line = seal_fields(seal, form.seal_hash(seal))
    except FormatError as exc:
        line = {"seq": seq, "undecodable": str(exc)}
    # agent_id is the stored row's, like the column verify groups seals by;
    # the verifier compares it with the agent the bytes name.
    return {**line, "agent_id": agent_id, "value": b64(value)}


def export_bundle(
    client: Client,
    settings: Settings,
    out: Path,
    *,
    agents: list[str],
    since: datetime | None,
    until: datetime | None,
    signer: SealSigner,
    public_keys_document: Mapping[str, Any],
    exported_at_us: int,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
    archive: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write a bundle of the range into `out` (new or empty) and sign its manifest.

    since None starts at every chain's beginning; until None runs to the end
    (and, like verify without --until, judges staleness against the newest seal).
    total(n) is told how many records will be written, progress(n) after each
    n written. The manifest and its signature are written last, so a bundle
    cut short by an error has no manifest and cannot pass verification.

    The manifest states the retention cutoff as of the export (exported_at
    minus AGENTAUDIT_RETENTION_DAYS), signed: an offline verifier accepts
    records and seals missing from the start of a chain as expired only if
    they can be older than that (verify/expiry.py). archive: what `agentaudit
    archive` adds to the manifest (the months it covers).
    """
    prepare_directory(out)
    schemas = load_schemas()
    reader = ValueReader(schemas, resolve=registry_resolver(settings))
    form = SealForm(schemas)
    params = {"agents": agents, "since": since or EPOCH, "until": until or FAR_FUTURE}
    db = settings.clickhouse_database
    result = ExportResult(out, signer.current_key_id)

    with translate_errors("reading seals to export"):
        seal_rows = client.query(range_query(db, RANGE_SEALS), parameters=params,
                                 column_formats=_BYTES).result_rows
    anchors: list[dict[str, Any]] = []
    with _HashingWriter(out / SEALS_FILE) as seals_file:
        for agent_id, seq, value, is_anchor in seal_rows:
            line = _seal_line(reader, form, agent_id, int(seq), bytes(value))
            if is_anchor:
                # The seal the range starts from: outside the range, but its
                # signed head hash and position are where the bundle's chains start.
                anchors.append(line)
                result.agent(agent_id).anchor_seal = int(seq)
            else:
                seals_file.line(line)
                result.agent(agent_id).add_seal(int(seq))

    with translate_errors("counting records to export"):
        count = int(client.query(range_query(db, _COUNT), parameters=params).result_rows[0][0])
    if total is not None:
        total(count)
    with _HashingWriter(out / RECORDS_FILE) as records_file, translate_errors("reading records to export"), \
            client.query_row_block_stream(range_query(db, _RECORDS), parameters=params,
                                          column_formats=_BYTES) as stream:
        for block in stream:
            for agent_id, position, prev, hash_, value in block:
                records_file.line(_record_line(reader, agent_id, int(position), bytes(prev), bytes(hash_),
                                               bytes(value)))
                result.agent(agent_id).add_record(int(position))
            if progress is not None:
                progress(len(block))

    with _HashingWriter(out / KEYS_FILE) as keys_file:
        keys_file.write((json.dumps(public_keys_document, indent=2) + "\n").encode("utf-8"))

    manifest = {
        "format": BUNDLE_FORMAT,
        "exporter": {"name": "agentaudit", "version": __version__},
        "exported_at": iso_us(exported_at_us),
        "range": {
            "since": iso_us(to_micros(since)) if since else None,
            "until": iso_us(to_micros(until)) if until else None,
            "agents": sorted(agents) or None,
        },
        "seal_policy": {"interval_s": settings.seal_interval_s, "every_records": settings.seal_every_records},
        "retention": {"days": settings.retention_days,
                      "cutoff": iso_us(exported_at_us - settings.retention_days * _DAY_US)},
        **({"archive": dict(archive)} if archive is not None else {}),
        "counts": {"agents": len(result.agents), "records": result.records, "seals": result.seals,
                   "anchors": len(anchors)},
        "agents": [vars(result.agents[name]) for name in sorted(result.agents)],
        "anchors": anchors,
        "confluent_schema_ids": reader.confluent_ids_json(),
        "files": [records_file.entry(), seals_file.entry(), keys_file.entry()],
    }
    data = manifest_bytes(manifest)
    with _HashingWriter(out / MANIFEST_FILE) as manifest_file:
        manifest_file.write(data)
    with _HashingWriter(out / SIGNATURE_FILE) as signature_file:
        signature_file.write(sign_manifest(data, signer))
    return result
