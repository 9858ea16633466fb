"""Reads what verification needs from ClickHouse, fast.

The expensive part -- hashing every stored record -- runs inside ClickHouse
(its SHA256 over the canonical bytes sliced out of the stored value), so only
hashes, positions and booleans cross into Python, as Arrow columns. Python
then checks links and Merkle roots, which need only 32-byte hashes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime
from typing import Any, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  imported by the first take(): at start-up, not mid-verification

from clickhouse_connect.driver.client import Client

from agentaudit.store.client import quote_identifier, translate_errors
from agentaudit.verify.agents import AgentData, SealReader
from agentaudit.verify.checks import ChainRows, Finding

# Avro varint length of zig-zag(position) = 2 * position, by magnitude.
_VARINT_LEN = "multiIf(" + ", ".join(
    f"toUInt64(chain_position) * 2 < {1 << (7 * n)}, {n}" for n in range(1, 10)
) + ", 10)"
# The Avro encoding of that varint, byte by byte (7 bits each, high bit = more).
_VARINT = (
    "arrayStringConcat(arrayMap(i -> char(bitOr(bitAnd(bitShiftRight(toUInt64(chain_position) * 2, 7 * i), 127), "
    "if(i + 1 < vlen, 128, 0))), range(vlen)))"
)
# RFC 6962 root: hash adjacent pairs level by level, an odd last node moving
# up unchanged (the same tree, see chain/merkle.py), folded ceil(log2 n) times.
_LEVEL = ("arrayMap(i -> if(2 * i + 2 <= length(acc), SHA256(concat(unhex('01'), acc[2 * i + 1], acc[2 * i + 2])), "
          "acc[2 * i + 1]), range(toUInt64(intDiv(length(acc) + 1, 2))))")


def _merkle_root_sql(leaves: str) -> str:
    levels = f"range(toUInt64(ceil(log2(greatest(length({leaves}), 1)))))"
    return f"arrayFold((acc, _) -> {_LEVEL}, {levels}, {leaves})[1] AS merkle_root"


_BOUNDS = """
    bounds AS (
        SELECT agent_id,
               maxIf(seq, until_time <= {since:DateTime64(6)}) AS anchor_seq,
               maxIf(last_position, until_time <= {since:DateTime64(6)}) AS lo,
               maxIf(last_position, from_time < {until:DateTime64(6)}) AS hi
        FROM DB.audit_seals
        WHERE agent_id IN {agents:Array(String)} OR empty({agents:Array(String)})
        GROUP BY agent_id
    ),
    chosen AS (
        SELECT CHOSEN
        FROM DB.audit_records AS r
        LEFT JOIN bounds AS b ON r.agent_id = b.agent_id
        WHERE chain_position > 0
          AND (r.agent_id IN {agents:Array(String)} OR empty({agents:Array(String)}))
          AND chain_position > b.lo
          AND (chain_position <= b.hi OR ingest_time < {until:DateTime64(6)})
    )
"""

# Per record: do its stored bytes hash to its chain hash, and does the chain
# link at the end of the stored bytes say what the columns say? Both inside
# ClickHouse, so only the verdicts and the 32-byte hashes reach Python.
_RECORDS = """
WITH BOUNDS
SELECT agent_id, chain_position,
       if(length(chain_prev_hash) = 32, toFixedString(chain_prev_hash, 32), toFixedString('', 32)) AS prev_hash,
       if(length(chain_hash) = 32, toFixedString(chain_hash, 32), toFixedString('', 32)) AS hash,
       SHA256(concat(chain_prev_hash, substring(record, hdr + 1, length(record) - hdr - 67 - vlen))) = chain_hash
           AS content_ok,
       right(record, 67 + vlen) = concat(unhex('02'), VARINT, unhex('40'), chain_prev_hash, unhex('40'), chain_hash)
           AS link_ok,
       toUnixTimestamp64Micro(ingest_time) AS ingest_us
FROM (SELECT *, if(startsWith(record, unhex('C301')), 10, 5) AS hdr, VARLEN AS vlen FROM chosen)
""".replace("VARLEN", _VARINT_LEN).replace("VARINT", _VARINT)  # unsorted: Arrow sorts far faster than ORDER BY here

_SEALS = """
WITH BOUNDS
SELECT s.agent_id, seq, seal, seq = b.anchor_seq AS is_anchor
FROM DB.audit_seals AS s
LEFT JOIN bounds AS b ON s.agent_id = b.agent_id
WHERE seq >= b.anchor_seq AND from_time < {until:DateTime64(6)}
  AND (s.agent_id IN {agents:Array(String)} OR empty({agents:Array(String)}))
ORDER BY s.agent_id, seq
"""

# Each seal's Merkle root over the stored records it covers, recomputed from
# their chain hashes (RFC 6962 leaf hash 00 || hash). A record is matched to
# the seal with the smallest last_position at or after its position (ASOF).
_ROOTS = """
WITH BOUNDS
SELECT agent_id, seq, count, last_hash, MERKLE
FROM (
    SELECT r.agent_id AS agent_id, s.seq AS seq, count() AS count,
           argMax(r.chain_hash, r.chain_position) AS last_hash,
           arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((r.chain_position,
                    SHA256(concat(unhex('00'), r.chain_hash)))))) AS leaves
    FROM chosen AS r
    ASOF JOIN (SELECT agent_id, seq, first_position, last_position FROM DB.audit_seals
               WHERE (agent_id IN {agents:Array(String)} OR empty({agents:Array(String)}))
                 -- seals of an idle stretch cover no record and share their last_position
                 -- with the seal before them; they must not win the ASOF match
                 AND last_position >= first_position) AS s
      ON r.agent_id = s.agent_id AND r.chain_position <= s.last_position
    WHERE r.chain_position >= s.first_position
    GROUP BY agent_id, seq
)
""".replace("MERKLE", _merkle_root_sql("leaves"))


_CHOSEN = "r.agent_id AS agent_id, chain_position, chain_prev_hash, chain_hash, record, event_id, ingest_time"


def range_query(database: str, query: str, columns: str = _CHOSEN) -> str:
    """`query` (starting WITH BOUNDS, reading DB. tables and the CTEs bounds and
    chosen) for one database: what `verify --since/--until` covers.

    The one definition of a verification range: `agentaudit export` selects
    through it too, so a bundle holds exactly the records and seals verify
    would check. Parameters: agents Array(String), since and until DateTime64(6).
    columns: what chosen selects from the records (r.*: all; fewer are
    measurably faster to read for the big queries).
    """
    return (query.replace("BOUNDS", _BOUNDS.replace("CHOSEN", columns))
            .replace("DB.", f"{quote_identifier(database)}."))


RANGE_SEALS = _SEALS
"""The range's seals with their stored values, the anchor flagged: (agent_id, seq, seal, is_anchor)."""


def name_events(client: Client, database: str, findings: list[Finding]) -> list[Finding]:
    """The findings with the event id of the record each names (the first stored, if repeated)."""
    wanted = [(f.agent_id, f.position) for f in findings if f.position is not None and f.event_id is None]
    if not wanted:
        return findings
    with translate_errors("naming the events of the findings"):
        rows = client.query(
            f"SELECT agent_id, chain_position, min(event_id) FROM {quote_identifier(database)}.audit_records "
            "WHERE (agent_id, chain_position) IN {wanted:Array(Tuple(String, Int64))} GROUP BY agent_id, chain_position",
            parameters={"wanted": wanted},
        ).result_rows
    names = {(a, int(p)): e for a, p, e in rows}
    return [
        replace(f, event_id=names.get((f.agent_id, f.position))) if f.position is not None and f.event_id is None else f
        for f in findings
    ]


def read(
    client: Client, database: str, agents: list[str], since: datetime, until: datetime, side: Client | None = None,
    on_seals: Callable[[list[dict[str, Any]]], None] | None = None,
) -> Iterator[AgentData]:
    """Each agent's rows and seals within [since, until), agent by agent.

    side: an optional second client of the same ClickHouse, to read the seals
    while the records stream. on_seals: called with every decoded seal as soon
    as they are read (while the records query runs, given a side client), to
    check their signatures on the cores ClickHouse leaves idle.
    """
    params = {"agents": agents, "since": since, "until": until}
    records_read = threading.Event()

    def seals_then_roots(on: Client) -> tuple[dict[str, list[tuple[dict[str, Any], bool]]], Any]:
        with translate_errors("reading seals to verify"):
            seal_rows = on.query(range_query(database, _SEALS), parameters=params, column_formats={"seal": "bytes"})
        reader = SealReader()
        seals: dict[str, list[tuple[dict[str, Any], bool]]] = {}
        for agent_id, _seq, value, is_anchor in seal_rows.result_rows:
            name = agent_id.decode() if isinstance(agent_id, bytes) else agent_id
            seals.setdefault(name, []).append((reader.decode(value), bool(is_anchor)))
        if on_seals is not None:
            on_seals([seal for agent_seals in seals.values() for seal, _ in agent_seals])
        # Both big queries use every core: run one after the other, the roots
        # beside the Python sorting of the records rather than beside the hashing.
        records_read.wait()
        with translate_errors("reading seals to verify"):
            root_rows = on.query(
                range_query(database, _ROOTS), parameters=params,
                column_formats={"merkle_root": "bytes", "last_hash": "bytes", "agent_id": "string"},
            )
        return seals, root_rows

    with ThreadPoolExecutor(1) if side is not None else nullcontext() as pool:
        pending = pool.submit(seals_then_roots, side) if pool is not None and side is not None else None
        try:
            with translate_errors("reading records to verify"):
                table = client.query_arrow(
                    range_query(database, _RECORDS), parameters=params, use_strings=True,
                    # every core for the hashing, even where the default is lower (measured ~10% here)
                    settings={"max_threads": max(2, os.cpu_count() or 2),
                              # agent ids as Arrow dictionary codes: what the sort below works on
                              "output_format_arrow_low_cardinality_as_dictionary": 1},
                )
        finally:
            records_read.set()
        if pending is None:
            seals_by_agent, root_rows = seals_then_roots(client)
            columns, spans, clean = _sorted_columns(table)
        else:
            columns, spans, clean = _sorted_columns(table)
            seals_by_agent, root_rows = pending.result()
    roots: dict[str, dict[int, tuple[int, bytes, bytes]]] = {}
    for agent_id, seq, count, last_hash, merkle_root in root_rows.result_rows:
        roots.setdefault(agent_id, {})[int(seq)] = (int(count), bytes(merkle_root), bytes(last_hash))
    for name in sorted(set(spans) | set(seals_by_agent)):
        lo, hi = spans.get(name, (0, 0))
        rows = ChainRows(
            positions=columns["chain_position"][lo:hi],
            prev_hashes=columns["prev_hash"][lo:hi],
            hashes=columns["hash"][lo:hi],
            content_ok=columns["content_ok"][lo:hi],
            link_ok=columns["link_ok"][lo:hi],
            event_ids=None,  # 36 bytes a row that only findings need: see name_events()
            ingest_us=columns["ingest_us"][lo:hi],
        )
        seals = seals_by_agent.get(name, [])
        anchor = next((s for s, is_anchor in seals if is_anchor), None)
        yield AgentData(
            name, rows, [s for s, is_anchor in seals if not is_anchor], anchor, roots.get(name, {}),
            name in clean,
        )


class _LazyColumn(Sequence[Any]):
    """A slice of an Arrow column, turned into Python values only when read.

    A clean agent's columns are barely read (its first record, a bisection for
    the unsealed tail), so most of the table never becomes Python objects.
    """

    def __init__(self, column: pa.ChunkedArray | pa.Array, lo: int = 0, hi: int | None = None) -> None:
        self._column = column
        self._lo = lo
        self._hi = len(column) if hi is None else hi
        self._values: list[Any] | None = None

    def __len__(self) -> int:
        return self._hi - self._lo

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> _LazyColumn: ...

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            lo, hi, _ = index.indices(len(self))
            return _LazyColumn(self._column, self._lo + lo, self._lo + hi)
        if self._values is not None:
            return self._values[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._column[self._lo + index].as_py()

    def __iter__(self) -> Iterator[Any]:
        if self._values is None:
            self._values = self._column.slice(self._lo, len(self)).to_pylist()
        return iter(self._values)


def _sorted_columns(table: pa.Table) -> tuple[dict[str, _LazyColumn], dict[str, tuple[int, int]], set[str]]:
    """The rows sorted by agent and position, each agent's span, and the agents whose
    records after the first all pass in bulk: bytes hash right, the link bytes match,
    positions step by one, and each prev_hash is the previous record's hash."""
    n = table.num_rows
    # Sort on the agents' dictionary codes, not agent id strings: several times faster.
    agent_column = table.column("agent_id")
    if not pa.types.is_dictionary(agent_column.type):
        agent_column = agent_column.dictionary_encode()
    agent_column = agent_column.unify_dictionaries()
    chunks = agent_column.chunks
    agents = [a.decode() if isinstance(a, bytes) else a for a in chunks[0].dictionary.to_pylist()] if chunks else []
    codes = np.concatenate([_numbers(c.indices) for c in chunks]) if chunks else np.zeros(0, dtype=np.int32)
    order = np.lexsort((_numbers(table.column("ingest_us")), _numbers(table.column("chain_position")), codes))
    # indices handed over as an Arrow array: given numpy, take() would convert it by importing pandas
    table = table.take(pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(order.astype(np.int64))]))
    codes = codes[order]
    positions = _numbers(table.column("chain_position"))
    prev = np.frombuffer(_fixed_buffer(table.column("prev_hash")), dtype="S32", count=n)
    hashes = np.frombuffer(_fixed_buffer(table.column("hash")), dtype="S32", count=n)
    good = _numbers(table.column("content_ok")).astype(bool) & _numbers(table.column("link_ok")).astype(bool)
    same_agent = np.zeros(n, dtype=bool)
    same_agent[1:] = codes[1:] == codes[:-1]
    linked = np.ones(n, dtype=bool)
    linked[1:] = (positions[1:] == positions[:-1] + 1) & (prev[1:] == hashes[:-1])
    row_ok = good & linked | ~same_agent  # an agent's first row is checked in Python, against its anchor
    spans: dict[str, tuple[int, int]] = {}
    clean: set[str] = set()
    starts = np.flatnonzero(~same_agent)
    ends = np.append(starts[1:], n)
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        name = agents[codes[lo]]
        spans[name] = (lo, hi)
        if row_ok[lo:hi].all():
            clean.add(name)
    columns = {name: _LazyColumn(table.column(name).combine_chunks()) for name in table.column_names}
    return columns, spans, clean


_DTYPES = {
    getattr(pa, name)(): np.dtype(name)
    for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
}


def _numbers(column: pa.ChunkedArray | pa.Array) -> np.ndarray[Any, Any]:
    """A non-null integer column as numpy, zero-copy where it is one chunk.

    Not Array.to_numpy(): on first use that imports pandas when it is
    installed, half a second of a verification's time for nothing.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    dtype = _DTYPES[array.type]
    if len(array) == 0:
        return np.zeros(0, dtype=dtype)
    return np.frombuffer(array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize)


def _fixed_buffer(column: pa.ChunkedArray) -> bytes | memoryview:
    """The contiguous bytes of a fixed_size_binary(32) column."""
    array = column.combine_chunks()
    if len(array) == 0:
        return b""
    return array.buffers()[1]  # type: ignore[no-any-return]
