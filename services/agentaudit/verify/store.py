"""Reads what verification needs from ClickHouse, fast.

The expensive part -- hashing every stored record -- runs inside ClickHouse
(its SHA256 over the canonical bytes sliced out of the stored value), so only
hashes, positions and booleans cross into Python, as Arrow columns. Python
then checks links and Merkle roots, which need only 32-byte hashes.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from fastavro import schemaless_reader

from agentaudit.codec import load_schemas
from agentaudit.codec.base import body_offset
from agentaudit.store.client import quote_identifier, translate_errors
from agentaudit.verify.checks import Anchor, ChainRows

# Avro varint length of zig-zag(position) = 2 * position, by magnitude.
_VARINT_LEN = "multiIf(" + ", ".join(
    f"toUInt64(chain_position) * 2 < {1 << (7 * n)}, {n}" for n in range(1, 10)
) + ", 10)"

_BOUNDS = """
    bounds AS (
        SELECT agent_id,
               maxIf(seq, until_time <= {since:DateTime64(6)}) AS anchor_seq,
               maxIf(last_position, until_time <= {since:DateTime64(6)}) AS lo,
               maxIf(last_position, from_time < {until:DateTime64(6)}) AS hi
        FROM DB.audit_seals
        WHERE agent_id IN {agents:Array(String)} OR empty({agents:Array(String)})
        GROUP BY agent_id
    )
"""

_RECORDS = """
WITH BOUNDS
SELECT r.agent_id, chain_position, chain_prev_hash, chain_hash,
       SHA256(concat(chain_prev_hash,
                     substring(record, hdr + 1, length(record) - hdr - 67 - vlen))) = chain_hash AS content_ok,
       substring(record, length(record) - 66 - vlen, vlen + 1) AS link_bytes,
       right(record, 66) = concat(unhex('40'), chain_prev_hash, unhex('40'), chain_hash) AS tail_ok,
       event_id,
       toUnixTimestamp64Micro(ingest_time) AS ingest_us
FROM (
    SELECT agent_id, chain_position, chain_prev_hash, chain_hash, record, event_id, ingest_time,
           if(startsWith(record, unhex('C301')), 10, 5) AS hdr, VARINT AS vlen
    FROM DB.audit_records
    WHERE chain_position > 0
      AND (agent_id IN {agents:Array(String)} OR empty({agents:Array(String)}))
) AS r
LEFT JOIN bounds AS b ON r.agent_id = b.agent_id
WHERE chain_position > b.lo
  AND (chain_position <= b.hi OR ingest_time < {until:DateTime64(6)})
ORDER BY r.agent_id, chain_position, ingest_time, event_id
""".replace("VARINT", _VARINT_LEN)

_SEALS = """
WITH BOUNDS
SELECT s.agent_id, seq, seal, seq = b.anchor_seq AS is_anchor
FROM DB.audit_seals AS s
LEFT JOIN bounds AS b ON s.agent_id = b.agent_id
WHERE seq >= b.anchor_seq AND from_time < {until:DateTime64(6)}
  AND (s.agent_id IN {agents:Array(String)} OR empty({agents:Array(String)}))
ORDER BY s.agent_id, seq
"""


@dataclass
class AgentData:
    agent_id: str
    rows: ChainRows
    seals: list[dict[str, Any]]
    anchor_seal: dict[str, Any] | None


class SealReader:
    """Decodes stored seal values with the shipped Seal schema."""

    def __init__(self) -> None:
        self._schema = load_schemas().latest("Seal").parsed  # logical types stripped: times stay integers

    def decode(self, value: bytes) -> dict[str, Any]:
        datum = schemaless_reader(io.BytesIO(value[body_offset(value):]), self._schema, None)
        assert isinstance(datum, dict)
        return datum


def anchor_of(seal: dict[str, Any], seal_hash: bytes) -> Anchor:
    return Anchor(seal["last_position"], seal["head_hash"], seal_hash, seal["seq"], seal["until_time"])


def read(
    client: Client, database: str, agents: list[str], since: datetime, until: datetime
) -> Iterator[AgentData]:
    """Each agent's rows and seals within [since, until), agent by agent."""
    db = quote_identifier(database)
    bounds = _BOUNDS.replace("DB.", f"{db}.")
    params = {"agents": agents, "since": since, "until": until}
    with translate_errors("reading records to verify"):
        table = client.query_arrow(
            _RECORDS.replace("BOUNDS", bounds).replace("DB.", f"{db}."), parameters=params, use_strings=False
        )
        seal_rows = client.query(
            _SEALS.replace("BOUNDS", bounds).replace("DB.", f"{db}."), parameters=params,
            column_formats={"seal": "bytes"},
        )
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    agent_col = [a.decode() if isinstance(a, bytes) else a for a in columns["agent_id"]]
    reader = SealReader()
    seals_by_agent: dict[str, list[tuple[dict[str, Any], bool]]] = {}
    for agent_id, _seq, value, is_anchor in seal_rows.result_rows:
        name = agent_id.decode() if isinstance(agent_id, bytes) else agent_id
        seals_by_agent.setdefault(name, []).append((reader.decode(value), bool(is_anchor)))
    start = 0
    names = sorted(set(agent_col) | set(seals_by_agent))
    spans: dict[str, tuple[int, int]] = {}
    for i in range(1, len(agent_col) + 1):
        if i == len(agent_col) or agent_col[i] != agent_col[start]:
            spans[agent_col[start]] = (start, i)
            start = i
    for name in names:
        lo, hi = spans.get(name, (0, 0))
        rows = ChainRows(
            positions=columns["chain_position"][lo:hi],
            prev_hashes=columns["chain_prev_hash"][lo:hi],
            hashes=columns["chain_hash"][lo:hi],
            content_ok=[bool(v) for v in columns["content_ok"][lo:hi]],
            link_bytes=columns["link_bytes"][lo:hi],
            tail_ok=[bool(v) for v in columns["tail_ok"][lo:hi]],
            event_ids=[e.decode() if isinstance(e, bytes) else e for e in columns["event_id"][lo:hi]],
            ingest_us=columns["ingest_us"][lo:hi],
        )
        seals = seals_by_agent.get(name, [])
        anchor = next((s for s, is_anchor in seals if is_anchor), None)
        yield AgentData(name, rows, [s for s, is_anchor in seals if not is_anchor], anchor)
