"""What every Codec promises, run against each encoding: single-object
encoding and the schema-registry wire format (against confluent-kafka's
in-process mock registry)."""

from __future__ import annotations

import pytest
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient

from agentaudit.codec import Codec, SingleObjectCodec
from agentaudit.codec.registry import RegistryCodec
from agentaudit.errors import DecodeError
from tests.avro_support import action


@pytest.fixture(params=["single_object", "registry"])
def codec(request: pytest.FixtureRequest) -> Codec:
    if request.param == "registry":
        return RegistryCodec(MockSchemaRegistryClient({"url": "mock://"}))
    return SingleObjectCodec()


def code_of(codec: Codec, data: bytes) -> str:
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", data)
    return err.value.code


def test_round_trip_keeps_every_field(codec: Codec) -> None:
    datum = action(tool="search", parameters='{"q": "x"}', signature=b"\x01",
                   attributes={"gen_ai.operation.name": "execute_tool"})
    decoded = codec.decode("AgentAction", codec.encode("AgentAction", datum))
    assert {k: decoded[k] for k in datum} == datum
    assert decoded["policy"] is None


def test_truncated_body_and_trailing_bytes_are_not_avro(codec: Codec) -> None:
    data = codec.encode("AgentAction", action())
    assert code_of(codec, data[:-5]) == "not_avro"
    assert code_of(codec, data + b"\x00") == "not_avro"


def test_invalid_utf8_is_named(codec: Codec) -> None:
    data = codec.encode("AgentAction", action(agent_id="agent-\u00e9"))
    assert code_of(codec, data.replace("agent-\u00e9".encode(), b"agent-\xff\xfe")) == "invalid_utf8"


def test_a_message_of_another_schema_is_a_mismatch(codec: Codec) -> None:
    incident = codec.encode(
        "Incident",
        dict(incident_id="i", version=1, tenant_id="t", agent_id="a", rule_id="r", severity="low", title="x",
             status="open", first_seen=1, last_seen=1, hit_count=1),
    )
    assert code_of(codec, incident) == "schema_mismatch"
