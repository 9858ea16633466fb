"""Verifies the agent registry's history as stored in ClickHouse (agent_registry).

Each stored entry is decoded from its exact Avro bytes and fed, in position
order, to the same RegistryLog every registry reader uses: it checks the
entry's hash chain and the pipeline key's signature, so an entry that was
altered (a key swapped, a status changed, an approver renamed), removed,
inserted or reordered stops the chain at its position. The columns queries
read are then compared with what the verified bytes say, so a change made to
the columns alone shows too.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client
from fastavro import schemaless_reader

from agentaudit.codec import load_schemas
from agentaudit.codec.base import body_offset
from agentaudit.query.timeparse import to_micros
from agentaudit.registry.avro import from_avro
from agentaudit.registry.errors import RegistryIntegrityError
from agentaudit.registry.log import RegistryLog
from agentaudit.registry.rows import REGISTRY_COLUMNS, REGISTRY_TABLE, registry_row
from agentaudit.store.client import quote_identifier, translate_errors
from agentaudit.verify.checks import Finding

REGISTRY = "(registry)"  # the agent_id of findings about the registry as a whole


def check_registry(client: Client, database: str, public_keys: Mapping[str, bytes]) -> tuple[int, list[Finding]]:
    """(entries checked, findings): the first break in the registry chain, and every row whose columns lie."""
    with translate_errors("reading the agent registry to verify"):
        rows = client.query(
            f"SELECT {', '.join(REGISTRY_COLUMNS)} FROM {quote_identifier(database)}.{REGISTRY_TABLE} ORDER BY position",
            column_formats={c: "bytes" for c in ("prev_hash", "hash", "signature", "record")},
        ).result_rows
    schema = load_schemas().latest("RegistryChange").parsed
    log = RegistryLog(public_keys)
    findings: list[Finding] = []
    for stored in rows:
        row = dict(zip(REGISTRY_COLUMNS, stored, strict=True))
        value: bytes = row["record"]
        try:
            datum: Any = schemaless_reader(io.BytesIO(value[body_offset(value):]), schema, None)
            log.append(from_avro(datum))
        except RegistryIntegrityError as broken:
            findings.append(Finding("registry_broken", row["agent_id"], broken.problem, position=broken.position))
            break  # an entry is never skipped: nothing after it can be trusted
        except Exception as exc:  # bytes that do not even decode
            findings.append(Finding("registry_broken", row["agent_id"], f"entry does not decode: {exc}",
                                    position=int(row["position"])))
            break
        expected = registry_row(datum, value)
        differ = [c for c in REGISTRY_COLUMNS if _norm(row[c]) != _norm(expected[c])]
        if differ:
            findings.append(Finding(
                "registry_row_mismatch", row["agent_id"],
                f"columns {', '.join(differ)} differ from the entry's verified bytes", position=int(row["position"]),
            ))
    return len(rows), findings


def _norm(value: Any) -> Any:
    """A column value as registry_row() gives it: times in microseconds, arrays as lists."""
    if isinstance(value, datetime):
        return to_micros(value if value.tzinfo else value.replace(tzinfo=UTC))
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    return value
