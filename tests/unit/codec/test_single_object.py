from __future__ import annotations

import struct

import pytest

from agentaudit.codec import SingleObjectCodec
from agentaudit.codec.single_object import MARKER
from agentaudit.errors import DecodeError
from tests.avro_support import action


@pytest.fixture(scope="module")
def codec() -> SingleObjectCodec:
    return SingleObjectCodec()


def test_header_is_marker_and_little_endian_crc64_fingerprint(codec: SingleObjectCodec) -> None:
    data = codec.encode("AgentAction", action())
    assert data[:2] == MARKER
    latest = codec.schemas.latest("AgentAction")
    assert data[2:10] == latest.fingerprint
    # The spec's own example: the fingerprint of "null" is 0x63dd24e7cc258f8a,
    # written little-endian; our loader must follow the same convention.
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO")) == struct.pack("<Q", 0x63DD24E7CC258F8A)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_avro"),
        (b"hello, world", "not_avro"),
        (MARKER + b"\x00" * 8 + b"\x02", "unknown_schema"),
    ],
)
def test_undecodable_bytes_raise_decode_error_with_a_code(codec: SingleObjectCodec, data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", data)
    assert err.value.code == code
