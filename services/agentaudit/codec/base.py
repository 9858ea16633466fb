"""The interface every message encoding offers to the pipeline's stages."""

from __future__ import annotations

from typing import Any, Protocol


class Codec(Protocol):
    """Encodes and decodes the pipeline's Avro messages by schema name.

    decode() raises agentaudit.errors.DecodeError for any input it cannot read;
    the caller turns that into a rejection with the original bytes.
    """

    def encode(self, name: str, datum: dict[str, Any]) -> bytes: ...

    def decode(self, name: str, data: bytes) -> dict[str, Any]: ...
