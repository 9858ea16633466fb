"""Decodes stored AuditRecord and Seal values offline. Pure.

A stored value names its writer schema in its header: the single-object
encoding by the schema's CRC-64-AVRO fingerprint, which identifies one of the
schemas agentaudit ships (schemas/avro) on its own; the Confluent wire format
by a registry id, which means nothing without the registry. For the latter a
bundle or proof carries a map from each id it uses to the fingerprint of the
shipped schema the registry holds under that id (the pipeline registers
exactly the shipped schemas). Either way the schema used to decode is one
agentaudit ships, never a schema text taken from the evidence, so evidence
cannot redefine what its bytes mean.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from typing import Any

from agentaudit.codec.schemas import SchemaSet, SchemaVersion
from agentaudit.codec.single_object import read_body
from agentaudit.errors import DecodeError
from agentaudit.evidence.formats import FormatError

Resolver = Callable[[int], bytes]
"""Registry schema id -> CRC-64-AVRO fingerprint of the schema under that id (export only)."""

_CONFLUENT_ID = struct.Struct(">I")


class ValueReader:
    """Finds the shipped writer schema of a stored value and decodes it.

    confluent_ids: registry schema id -> shipped schema fingerprint, from the
    evidence; resolve: how to learn a missing id (the exporter asks the
    registry); offline there is none, and an unknown id is an error.
    """

    def __init__(
        self, schemas: SchemaSet, confluent_ids: Mapping[int, bytes] | None = None, resolve: Resolver | None = None
    ) -> None:
        self.schemas = schemas
        self.confluent_ids: dict[int, bytes] = dict(confluent_ids or {})
        self._resolve = resolve

    def schema_of(self, value: bytes) -> SchemaVersion:
        if value[:2] == b"\xc3\x01" and len(value) >= 10:
            fingerprint = value[2:10]
        elif value[:1] == b"\x00" and len(value) >= 5:
            schema_id = _CONFLUENT_ID.unpack_from(value, 1)[0]
            known = self.confluent_ids.get(schema_id)
            if known is None and self._resolve is not None:
                known = self.confluent_ids[schema_id] = self._resolve(schema_id)
            if known is None:
                raise FormatError(f"registry schema id {schema_id} is not mapped to a shipped schema")
            fingerprint = known
        else:
            raise FormatError("the stored value starts with neither Avro single-object nor Confluent framing")
        schema = self.schemas.by_fingerprint.get(fingerprint)
        if schema is None:
            raise FormatError(f"no schema shipped with agentaudit has fingerprint {fingerprint.hex()}")
        return schema

    def decode(self, name: str, value: bytes) -> dict[str, Any]:
        """The value as the newest shipped `name` (older writers resolved to it); FormatError if it is not one."""
        writer = self.schema_of(value)
        if writer.name != name:
            raise FormatError(f"the stored value is a {writer.name}, expected a {name}")
        reader = self.schemas.latest(name)
        offset = 10 if value[:1] == b"\xc3" else 5
        try:
            return read_body(value, offset, writer.parsed, None if writer is reader else reader.parsed)
        except DecodeError as exc:
            raise FormatError(f"the stored value does not decode as {name}: {exc.reason}") from None

    def confluent_ids_json(self) -> dict[str, str]:
        """The id map as written into a manifest or proof: {"<id>": "<fingerprint hex>"}."""
        return {str(k): v.hex() for k, v in sorted(self.confluent_ids.items())}


def parse_confluent_ids(document: object) -> dict[int, bytes]:
    """The inverse of ValueReader.confluent_ids_json."""
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise FormatError("confluent_schema_ids must be an object")
    try:
        return {int(k): bytes.fromhex(v) for k, v in document.items()}
    except (TypeError, ValueError):
        raise FormatError("confluent_schema_ids must map ids to fingerprint hex") from None
