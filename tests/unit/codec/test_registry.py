"""RegistryCodec against confluent-kafka's in-process MockSchemaRegistryClient.

These are unit tests of the wire format, caching and error codes: the
registry here is confluent-kafka's own mock, not a server. The same codec runs
against a real registry (Apicurio) in tests/integration/test_schema_registry.py.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry._sync.mock_schema_registry_client import MockSchemaRegistryClient
from confluent_kafka.schema_registry import record_subject_name_strategy
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import schemaless_writer

from agentaudit.codec import SingleObjectCodec, make_codec
from agentaudit.codec.registry import RegistryCodec, subject_for
from agentaudit.errors import ConfigError, DecodeError, TransientError
from agentaudit.settings import Settings
from tests.avro_support import action, evolved_schemas


class CountingClient(MockSchemaRegistryClient):
    """The mock registry, counting the calls that would be round trips."""

    def __init__(self) -> None:
        super().__init__({"url": "mock://"})
        self.calls: dict[str, int] = {"register_schema": 0, "get_schema": 0, "lookup_schema": 0}

    def register_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> int:
        self.calls["register_schema"] += 1
        return super().register_schema(subject_name, schema, normalize_schemas)

    def get_schema(self, schema_id: int, subject_name: str | None = None, fmt: str | None = None,
                   reference_format: str | None = None) -> Schema:
        self.calls["get_schema"] += 1
        return super().get_schema(schema_id, subject_name, fmt, reference_format)

    def lookup_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False,
                      fmt: str | None = None, deleted: bool = False) -> Any:
        self.calls["lookup_schema"] += 1
        return super().lookup_schema(subject_name, schema, normalize_schemas, fmt, deleted)


@pytest.fixture()
def client() -> CountingClient:
    return CountingClient()


@pytest.fixture()
def codec(client: CountingClient) -> RegistryCodec:
    return RegistryCodec(client)


def test_wire_format_is_magic_byte_big_endian_id_then_avro_body(codec: RegistryCodec, client: CountingClient) -> None:
    datum = action(tool="search")
    data = codec.encode("AgentAction", datum)
    latest = codec.schemas.latest("AgentAction")
    registered = client.get_latest_version("io.agentaudit.AgentAction")
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == registered.schema_id == codec.schema_id("AgentAction")
    body = io.BytesIO()
    schemaless_writer(body, latest.parsed, datum)
    assert data[5:] == body.getvalue()


def test_subject_is_the_full_record_name(codec: RegistryCodec, client: CountingClient) -> None:
    codec.encode("AgentAction", action())
    assert client.get_subjects() == ["io.agentaudit.AgentAction"]
    assert subject_for(codec.schemas.latest("Incident")) == "io.agentaudit.Incident"


def test_registry_is_asked_once_per_schema_not_per_message(client: CountingClient) -> None:
    producer = RegistryCodec(client)
    messages = [producer.encode("AgentAction", action(sequence=i)) for i in range(1, 101)]
    assert client.calls["register_schema"] == 1
    consumer = RegistryCodec(client)  # a fresh codec knows no ids yet
    assert [consumer.decode("AgentAction", m)["sequence"] for m in messages] == list(range(1, 101))
    assert client.calls["get_schema"] == 1


def test_own_messages_decode_without_a_lookup(codec: RegistryCodec, client: CountingClient) -> None:
    codec.decode("AgentAction", codec.encode("AgentAction", action()))
    assert client.calls["get_schema"] == 0


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "not_avro"),
        (b"\x00\x00", "not_avro"),
        (b"hello, world", "not_avro"),
        (b"\xc3\x01" + b"\x00" * 9, "not_avro"),
        (b"\x00\x00\x00\x99\x99\x02", "unknown_schema"),
    ],
)
def test_undecodable_bytes_raise_decode_error_with_a_code(codec: RegistryCodec, data: bytes, code: str) -> None:
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", data)
    assert err.value.code == code


def test_unknown_ids_are_remembered(codec: RegistryCodec, client: CountingClient) -> None:
    for _ in range(50):
        with pytest.raises(DecodeError):
            codec.decode("AgentAction", b"\x00\x00\x00\x99\x99\x02")
    assert client.calls["get_schema"] == 1


def test_single_object_bytes_are_named_as_such(codec: RegistryCodec) -> None:
    data = SingleObjectCodec().encode("AgentAction", action())
    with pytest.raises(DecodeError, match="single-object"):
        codec.decode("AgentAction", data)


def test_a_non_avro_writer_schema_is_a_mismatch(codec: RegistryCodec, client: CountingClient) -> None:
    schema_id = client.register_schema("some-json-subject", Schema('{"type": "object"}', "JSON"))
    with pytest.raises(DecodeError) as err:
        codec.decode("AgentAction", b"\x00" + struct.pack(">I", schema_id) + b"{}")
    assert err.value.code == "schema_mismatch"


def test_an_older_version_decodes_with_the_newest_reader(tmp_path: Path, client: CountingClient) -> None:
    old, new = evolved_schemas(tmp_path)
    data = RegistryCodec(client, old).encode("AgentAction", action())
    decoded = RegistryCodec(client, new).decode("AgentAction", data)
    assert decoded["risk_hint"] is None and decoded["agent_id"] == "agent-1"
    # ...and the newest codec can still write the old version on purpose.
    newest = RegistryCodec(client, new)
    assert newest.decode("AgentAction", newest.encode_version("AgentAction", 1, action()))["risk_hint"] is None


def test_register_all_registers_every_version_oldest_first(tmp_path: Path, client: CountingClient) -> None:
    _, new = evolved_schemas(tmp_path)
    ids = RegistryCodec(client, new).register_all()
    assert len(ids["AgentAction"]) == 2 and ids["AgentAction"][0] < ids["AgentAction"][1]
    subject = "io.agentaudit.AgentAction"
    assert [client.get_version(subject, v).schema_id for v in (1, 2)] == ids["AgentAction"]


class BrokenClient(MockSchemaRegistryClient):
    def __init__(self, error: Exception) -> None:
        super().__init__({"url": "mock://"})
        self.error = error

    def get_schema(self, *args: Any, **kwargs: Any) -> Schema:
        raise self.error

    def register_schema(self, *args: Any, **kwargs: Any) -> int:
        raise self.error


@pytest.mark.parametrize("error", [SchemaRegistryError(503, 50003, "unavailable"), ConnectionRefusedError("refused")])
def test_a_registry_that_does_not_answer_is_transient(error: Exception) -> None:
    codec = RegistryCodec(BrokenClient(error))
    with pytest.raises(TransientError):
        codec.decode("AgentAction", b"\x00\x00\x00\x00\x07\x02")
    with pytest.raises(TransientError):
        codec.encode("AgentAction", action())


def test_an_incompatible_registration_is_a_config_error() -> None:
    codec = RegistryCodec(BrokenClient(SchemaRegistryError(409, 409, "incompatible")))
    with pytest.raises(ConfigError, match="incompatible"):
        codec.encode("AgentAction", action())


def test_without_auto_registration_an_unregistered_schema_is_a_config_error(client: CountingClient) -> None:
    with pytest.raises(ConfigError, match="not registered"):
        RegistryCodec(client, auto_register=False).encode("AgentAction", action())
    RegistryCodec(client).encode("AgentAction", action())
    assert RegistryCodec(client, auto_register=False).encode("AgentAction", action())[0] == 0


# -- cross-check with confluent-kafka's own serializer (mocked registry) ------


def _serde(client: SchemaRegistryClient) -> tuple[AvroSerializer, AvroDeserializer, SerializationContext]:
    raw = json.dumps(RegistryCodec(client).schemas.latest("AgentAction").raw)
    conf = {"subject.name.strategy": record_subject_name_strategy}
    return AvroSerializer(client, raw, conf=conf), AvroDeserializer(client), SerializationContext("agent.actions", MessageField.VALUE)


def test_confluent_serializer_bytes_decode_with_our_codec(client: CountingClient) -> None:
    serializer, _, ctx = _serde(client)
    datum = action(tool="search")
    data = serializer(datum, ctx)
    assert data is not None
    decoded = RegistryCodec(client).decode("AgentAction", data)
    assert {k: decoded[k] for k in datum} == datum


def test_our_bytes_decode_with_confluent_deserializer(client: CountingClient) -> None:
    _, deserializer, ctx = _serde(client)
    decoded = deserializer(RegistryCodec(client).encode("AgentAction", action(tool="search")), ctx)
    assert isinstance(decoded, dict)
    assert decoded["tool"] == "search" and decoded["agent_id"] == "agent-1"


def test_make_codec_follows_the_registry_setting() -> None:
    assert isinstance(make_codec(Settings()), SingleObjectCodec)
    assert isinstance(make_codec(Settings(schema_registry_url="http://127.0.0.1:1/apis/ccompat/v7")), RegistryCodec)
