"""The interface every message encoding offers to the pipeline's stages."""

from __future__ import annotations

from typing import Any, Protocol


class Codec(Protocol):
    """Encodes and decodes the pipeline's Avro messages by schema name.

    decode() raises agentaudit.errors.DecodeError for any input it cannot read;
    the caller turns that into a rejection with the original bytes.
    """

    def encode(self, name: str, datum: dict[str, Any]) -> bytes: ...

    def header(self, name: str) -> bytes:
        """The bytes encode() puts before the Avro body of the newest `name`.

        Lets a stage that builds an Avro body itself (the chain stage appends
        the chain link to bytes it already hashed) frame it exactly as encode()
        would: encode(name, d) == header(name) + Avro body of d.
        """
        ...

    def decode(self, name: str, data: bytes) -> dict[str, Any]: ...


def body_offset(data: bytes) -> int:
    """Where the Avro body starts in a message of either encoding.

    The single-object header is C3 01 + an 8-byte fingerprint; the Confluent
    one is 00 + a 4-byte schema id. A verifier uses this to find the covered
    bytes of a stored record or seal without knowing which encoding wrote it.
    """
    if data[:2] == b"\xc3\x01":
        return 10
    if data[:1] == b"\x00":
        return 5
    raise ValueError("neither Avro single-object nor Confluent wire format")
