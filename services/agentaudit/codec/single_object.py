"""Avro single-object encoding: C3 01, the writer schema's 8-byte CRC-64-AVRO
fingerprint (little-endian), then the Avro binary body.

Used when no schema registry is configured: the fingerprint names the writer
schema among the versions shipped in schemas/avro, so old writers keep working
after the schema evolves.
"""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError

from agentaudit.codec.schemas import SchemaSet, load_schemas
from agentaudit.errors import DecodeError

MARKER = b"\xc3\x01"
HEADER_LEN = len(MARKER) + 8


def read_body(data: bytes, offset: int, writer: dict[str, Any], reader: dict[str, Any] | None) -> dict[str, Any]:
    """Decode one Avro body that must fill the rest of data exactly."""
    buf = io.BytesIO(data)
    buf.seek(offset)
    try:
        datum = schemaless_reader(buf, writer, reader)
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid_utf8", f"a string field is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except SchemaResolutionError as exc:
        raise DecodeError("schema_mismatch", f"writer schema cannot be read as the current one: {exc}") from None
    except (EOFError, IndexError) :
        raise DecodeError("not_avro", "Avro body ends before the record is complete (truncated or not Avro)") from None
    except Exception as exc:  # fastavro raises bare ValueError/KeyError/etc. on garbage
        raise DecodeError("not_avro", f"Avro body does not decode: {type(exc).__name__}: {exc}") from None
    if buf.tell() != len(data):
        raise DecodeError("not_avro", f"{len(data) - buf.tell()} bytes left over after the record (not Avro, or wrong schema)")
    if not isinstance(datum, dict):
        raise DecodeError("not_avro", "Avro body is not a record")
    return datum


def write_body(datum: dict[str, Any], schema: dict[str, Any], out: io.BytesIO) -> None:
    try:
        schemaless_writer(out, schema, datum)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        # Encoding is the caller's bug, never the pipeline's input: say which field.
        raise ValueError(f"cannot encode {schema.get('name')}: {exc}") from exc


class SingleObjectCodec:
    """Codec for the Avro single-object encoding against the shipped schemas."""

    def __init__(self, schemas: SchemaSet | None = None) -> None:
        self.schemas = schemas or load_schemas()

    def encode(self, name: str, datum: dict[str, Any]) -> bytes:
        latest = self.schemas.latest(name)
        out = io.BytesIO()
        out.write(MARKER)
        out.write(latest.fingerprint)
        write_body(datum, latest.parsed, out)
        return out.getvalue()

    def header(self, name: str) -> bytes:
        return MARKER + self.schemas.latest(name).fingerprint

    def decode(self, name: str, data: bytes) -> dict[str, Any]:
        if len(data) < HEADER_LEN or data[:2] != MARKER:
            raise DecodeError("not_avro", "value does not start with the Avro single-object marker C3 01")
        writer = self.schemas.by_fingerprint.get(data[2:HEADER_LEN])
        if writer is None:
            raise DecodeError("unknown_schema", f"no known schema has fingerprint {data[2:HEADER_LEN].hex()}")
        reader = self.schemas.latest(name)
        if writer.name != name:
            raise DecodeError("schema_mismatch", f"message is a {writer.name}, expected {name}")
        return read_body(data, HEADER_LEN, writer.parsed, None if writer is reader else reader.parsed)
