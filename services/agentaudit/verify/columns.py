"""`verify --columns`: the columns queries read, checked against the stored record bytes.

The chain covers each record's stored bytes. The sink also writes columns
derived from those bytes (principal_id, resource, …), and every audit query,
dashboard and report reads the columns, so a column changed in place would
mislead them while the chains still verify. This check decodes every record
in range and recomputes the row with the sink's own row function
(sink.rows.record_row), then compares it, column by column, with what is
stored. It decodes every record in Python, so it runs at decoding speed
rather than ClickHouse's hashing speed; it is a flag, not the default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from agentaudit.evidence.formats import FormatError
from agentaudit.evidence.values import ValueReader
from agentaudit.sink.rows import RECORD_COLUMNS, record_row
from agentaudit.store.client import translate_errors
from agentaudit.verify.checks import Finding
from agentaudit.verify.store import range_query

# Times are compared as the integer microseconds record_row produces.
_MICROS = {"agent_time", "ingest_time"}
_NULLABLE_MICROS = {"approval_decided_at"}
_BINARY = {"signature", "chain_prev_hash", "chain_hash", "record"}


def _select(column: str) -> str:
    if column in _MICROS:
        return f"toUnixTimestamp64Micro({column}) AS {column}"
    if column in _NULLABLE_MICROS:
        return f"if(isNull({column}), NULL, toUnixTimestamp64Micro(assumeNotNull({column}))) AS {column}"
    return column


_ROWS = "WITH BOUNDS SELECT " + ", ".join(_select(c) for c in RECORD_COLUMNS) + " FROM chosen"
_RECORD = RECORD_COLUMNS.index("record")
_AGENT = RECORD_COLUMNS.index("agent_id")
_POSITION = RECORD_COLUMNS.index("chain_position")


@dataclass
class _AgentColumns:
    """What was found for one agent: its first bad row, and how many there were."""

    first: int | None = None
    event_id: str | None = None
    detail: str = ""
    bad: int = 0
    columns: set[str] = field(default_factory=set)

    def add(self, position: int, event_id: str | None, detail: str, columns: set[str]) -> None:
        self.bad += 1
        self.columns |= columns
        if self.first is None or position < self.first:
            self.first, self.event_id, self.detail = position, event_id, detail


def check_columns(
    client: Client, database: str, agents: list[str], since: datetime, until: datetime, reader: ValueReader,
    progress: Callable[[int], None] | None = None,
) -> tuple[int, list[Finding]]:
    """(rows checked, findings): for each agent with differing rows, one finding naming the first."""
    found: dict[str, _AgentColumns] = {}
    checked = 0
    params = {"agents": agents, "since": since, "until": until}
    with translate_errors("reading record columns to verify"), client.query_row_block_stream(
        range_query(database, _ROWS, columns="r.*"), parameters=params, column_formats={c: "bytes" for c in _BINARY},
    ) as stream:
        for block in stream:
            for stored in block:
                _check_row(stored, reader, found)
            checked += len(block)
            if progress is not None:
                progress(len(block))
    findings = []
    for agent_id in sorted(found):
        agent = found[agent_id]
        assert agent.first is not None
        more = f" ({agent.bad} rows differ in all, in {', '.join(sorted(agent.columns))})" if agent.bad > 1 else ""
        findings.append(Finding("column_mismatch", agent_id, agent.detail + more, position=agent.first,
                                event_id=agent.event_id))
    return checked, findings


def _check_row(stored: tuple[Any, ...], reader: ValueReader, found: dict[str, _AgentColumns]) -> None:
    agent_id, position, value = stored[_AGENT], int(stored[_POSITION]), bytes(stored[_RECORD])
    try:
        derived = record_row(reader.decode("AuditRecord", value), value)
    except FormatError as exc:
        found.setdefault(agent_id, _AgentColumns()).add(
            position, None, f"the stored record does not decode, so its columns cannot be checked: {exc}", set()
        )
        return
    if derived == tuple(stored):  # the usual case, one comparison in C
        return
    differing = {name for name, mine, theirs in zip(RECORD_COLUMNS, derived, stored, strict=True)
                 if not _same(mine, theirs)}
    if differing:
        # Values are not repeated here: parameters and messages can hold personal data.
        found.setdefault(agent_id, _AgentColumns()).add(
            position, derived[RECORD_COLUMNS.index("event_id")],
            f"stored columns differ from the record's bytes: {', '.join(sorted(differing))}", differing,
        )


def _same(derived: Any, stored: Any) -> bool:
    if isinstance(stored, (bytes, bytearray, memoryview)):
        return bytes(stored) == (derived if isinstance(derived, bytes) else bytes(derived or b""))
    if isinstance(derived, list):  # rule hits: tuples; ClickHouse returns named tuples as dicts (or tuples)
        return [tuple(x) for x in derived] == [tuple(x.values()) if isinstance(x, dict) else tuple(x)
                                               for x in (stored or [])]
    return bool(derived == stored)
