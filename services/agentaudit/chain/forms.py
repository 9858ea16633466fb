"""Byte forms the chain and seals are computed over (schemas/chain.md).

Both AuditRecord and Seal end in the field that depends on the rest -- the
record's chain link, the seal's signature -- so their Avro bodies are the
covered bytes followed by that field. Hashing the prefix as it will be stored
needs no second encoding, and a verifier reads the covered bytes straight out
of the stored value.
"""

from __future__ import annotations

import copy
import io
from typing import Any

from fastavro import parse_schema, schemaless_writer

from agentaudit.codec.schemas import SchemaSet


def zigzag_varint(value: int) -> bytes:
    """Avro's encoding of a long: zig-zag, then little-endian base-128 varint."""
    n = (value << 1) ^ (value >> 63)
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def avro_bytes(value: bytes) -> bytes:
    """Avro's encoding of a bytes value: its length as a long, then the bytes."""
    return zigzag_varint(len(value)) + value


class PrefixForm:
    """Avro bodies of schema `name` without its trailing field(s).

    encode(datum) == the first bytes of the full body of datum, because Avro
    writes a record's fields in order with nothing between them.
    """

    def __init__(self, schemas: SchemaSet, name: str, drop: tuple[str, ...]) -> None:
        raw = copy.deepcopy(schemas.latest(name).raw)
        tail = [f["name"] for f in raw["fields"][-len(drop):]]
        if tail != list(drop):
            raise ValueError(f"{name} must end with fields {drop}, ends with {tail}")
        raw["fields"] = raw["fields"][: -len(drop)]
        self.name = name
        self._parsed = parse_schema(raw, named_schemas={})

    def encode(self, datum: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        schemaless_writer(out, self._parsed, datum)
        return out.getvalue()


def chain_link_tail(position: int, prev_hash: bytes, hash_: bytes) -> bytes:
    """The Avro encoding of AuditRecord.chain = ChainLink(position, prev_hash, hash).

    Union branch 1 (the record; branch 0 is null), then its three fields.
    """
    return b"\x02" + zigzag_varint(position) + avro_bytes(prev_hash) + avro_bytes(hash_)
