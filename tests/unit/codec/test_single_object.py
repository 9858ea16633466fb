from __future__ import annotations

import struct

import pytest

from agentaudit.codec import SingleObjectCodec
from agentaudit.codec.single_object import MARKER
from agentaudit.errors import DecodeError


def action(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        event_id="01934b6e-1c2a-7c3d-8e4f-a1b2c3d4e5f6",
        agent_id="agent-1",
        session_id="s-1",
        sequence=1,
        tenant_id="acme",
        principal={"type": "user", "id": "alice"},
        action_type="tool_call",
        outcome="success",
        agent_time=1_700_000_000_000_000,
    )
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
def codec() -> SingleObjectCodec:
    return SingleObjectCodec()


def test_round_trip_keeps_every_field(codec: SingleObjectCodec) -> None:
    datum = action(tool="search", parameters='{"q": "x"}', attributes={"gen_ai.operation.name": "execute_tool"})
    decoded = codec.decode("AgentAction", codec.encode("AgentAction", datum))
    assert {k: decoded[k] for k in datum} == datum
    assert decoded["policy"] is None and decoded["signature"] is None


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


def test_truncated_body_is_not_avro(codec: SingleObjectCodec) -> None:
    data = codec.encode("AgentAction", action())
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", data[:-5])
    assert err.value.code == "not_avro"


def test_trailing_bytes_are_refused(codec: SingleObjectCodec) -> None:
    with pytest.raises(DecodeError, match="left over"):
        codec.decode("AgentAction", codec.encode("AgentAction", action()) + b"\x00")


def test_invalid_utf8_is_named(codec: SingleObjectCodec) -> None:
    data = codec.encode("AgentAction", action(agent_id="agent-\u00e9"))
    broken = data.replace("agent-\u00e9".encode(), b"agent-\xff\xfe")
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", broken)
    assert err.value.code == "invalid_utf8"


def test_a_message_of_another_schema_is_a_mismatch(codec: SingleObjectCodec) -> None:
    incident = codec.encode(
        "Incident",
        dict(incident_id="i", version=1, tenant_id="t", agent_id="a", rule_id="r", severity="low", title="x",
             status="open", first_seen=1, last_seen=1, hit_count=1),
    )
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", incident)
    assert err.value.code == "schema_mismatch"
