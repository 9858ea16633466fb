"""`agentaudit prove EVENT_ID`: an inclusion proof of one stored record, from ClickHouse.

Finds the record, the seal covering its position and the chain hashes of
every record that seal covers, and checks them before writing anything: a
proof that would not verify is refused with the reason (run `agentaudit
verify` to see the whole damage), never handed to an auditor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.chain.merkle import root
from agentaudit.chain.seal import SealForm
from agentaudit.codec import load_schemas
from agentaudit.errors import AgentAuditError
from agentaudit.evidence.export import registry_resolver
from agentaudit.evidence.formats import FormatError, content_ok, iso_us, link_ok
from agentaudit.evidence.proof import build_proof
from agentaudit.evidence.values import ValueReader
from agentaudit.settings import Settings
from agentaudit.store.client import quote_identifier, translate_errors


class ProofError(AgentAuditError):
    """No proof can be made: the event is unknown, or what is stored does not hold together."""


class NotSealedYet(AgentAuditError):
    """The record is stored but no seal covers it yet; try again after the time in the message."""


_RECORD = """
SELECT agent_id, chain_position, chain_prev_hash, chain_hash, record
FROM DB.audit_records
WHERE event_id = {event_id:String} AND chain_position > 0
ORDER BY chain_position
"""

_SEAL = """
SELECT seq, seal
FROM DB.audit_seals
WHERE agent_id = {agent:String} AND first_position <= {position:Int64} AND last_position >= {position:Int64}
ORDER BY seq
LIMIT 1
"""

_LAST_SEAL = """
SELECT max(seq), max(last_position), toUnixTimestamp64Micro(max(until_time))
FROM DB.audit_seals
WHERE agent_id = {agent:String}
"""

_COVERED = """
SELECT chain_position, chain_hash
FROM DB.audit_records
WHERE agent_id = {agent:String} AND chain_position BETWEEN {first:Int64} AND {last:Int64}
ORDER BY chain_position
"""

_BYTES: dict[str, str | dict[str, str]] = {
    "record": "bytes", "chain_prev_hash": "bytes", "chain_hash": "bytes", "seal": "bytes", "agent_id": "string",
}


def not_sealed_message(event_id: str, agent_id: str, position: int, ingest_us: int,
                       last_seal: tuple[int, int, int] | None, settings: Settings) -> str:
    """Why there is no proof yet, and when there will be one."""
    interval_us = int(settings.seal_interval_s * 1e6)
    # Time seals fall on multiples of the period, at the first input stamped at
    # or after the boundary (the processor's ticks see to that when agents are
    # quiet), so the record's seal is due at the next boundary after it.
    due_us = (ingest_us // interval_us + 1) * interval_us
    since = f"{agent_id}'s last seal (seq {last_seal[0]}) covers positions up to {last_seal[1]}" \
        if last_seal else f"{agent_id} has no seal yet"
    return (
        f"event {event_id} ({agent_id}, position {position}) is stored but not sealed yet: {since}. "
        f"Its seal is due at the end of its sealing period, {iso_us(due_us)} "
        f"(AGENTAUDIT_SEAL_INTERVAL_S={settings.seal_interval_s:g}), or sooner once the chain has "
        f"{settings.seal_every_records} records past its last seal (AGENTAUDIT_SEAL_EVERY_RECORDS); "
        "run prove again after that"
    )


def make_proof(
    client: Client, settings: Settings, event_id: str, public_keys_document: Mapping[str, Any], now_us: int
) -> dict[str, Any]:
    """The proof document for event_id; ProofError or NotSealedYet when there cannot be one (yet)."""
    db = quote_identifier(settings.clickhouse_database)
    schemas = load_schemas()
    reader = ValueReader(schemas, resolve=registry_resolver(settings))
    form = SealForm(schemas)
    with translate_errors("finding the record to prove"):
        rows = client.query(_RECORD.replace("DB.", f"{db}."), parameters={"event_id": event_id},
                            column_formats=_BYTES).result_rows
    if not rows:
        raise ProofError(f"no chained record has event id {event_id}")
    if len(rows) > 1:
        where = ", ".join(f"{a} position {p}" for a, p, *_ in rows)
        raise ProofError(f"event {event_id} is stored {len(rows)} times ({where}); run agentaudit verify")
    agent_id, position, prev_hash, chain_hash, value = rows[0]
    position, prev_hash, chain_hash, value = int(position), bytes(prev_hash), bytes(chain_hash), bytes(value)
    if not (link_ok(value, position, prev_hash, chain_hash) and content_ok(value, position, prev_hash, chain_hash)):
        raise ProofError(f"the stored record of event {event_id} does not hash to its chain hash (modified); "
                         f"run agentaudit verify --agent {agent_id}")
    try:
        record = reader.decode("AuditRecord", value)
    except FormatError as exc:
        raise ProofError(f"the stored record of event {event_id} does not decode: {exc}") from None

    params = {"agent": agent_id, "position": position}
    with translate_errors("finding the seal to prove against"):
        seal_rows = client.query(_SEAL.replace("DB.", f"{db}."), parameters=params, column_formats=_BYTES).result_rows
        if not seal_rows:
            seq, last, until = client.query(_LAST_SEAL.replace("DB.", f"{db}."), parameters=params).result_rows[0]
            raise NotSealedYet(not_sealed_message(event_id, agent_id, position, int(record["ingest_time"]),
                                                  (int(seq), int(last), int(until)) if seq else None, settings))
    seal_value = bytes(seal_rows[0][1])
    try:
        seal = reader.decode("Seal", seal_value)
    except FormatError as exc:
        raise ProofError(f"seal {seal_rows[0][0]} of {agent_id} does not decode: {exc}") from None
    first, last = seal["first_position"], seal["last_position"]
    with translate_errors("reading the chain hashes the seal covers"):
        covered = client.query(_COVERED.replace("DB.", f"{db}."),
                               parameters={"agent": agent_id, "first": first, "last": last},
                               column_formats=_BYTES).result_rows
    positions = [int(p) for p, _ in covered]
    hashes = [bytes(h) for _, h in covered]
    if positions != list(range(first, last + 1)) or root(hashes) != seal["merkle_root"]:
        raise ProofError(f"the stored records of {agent_id} positions {first}..{last} do not match seal "
                         f"{seal['seq']} (missing, repeated or changed); run agentaudit verify --agent {agent_id}")
    return build_proof(
        record_value=value, record=record, agent_id=agent_id, position=position, prev_hash=prev_hash,
        chain_hash=chain_hash, seal_value=seal_value, seal=seal, seal_hash=form.seal_hash(seal),
        covered_hashes=hashes, public_keys_document=public_keys_document,
        confluent_ids=reader.confluent_ids_json(), created_at_us=now_us,
    )
