"""RegistryCodec against a real Confluent-compatible registry.

The registry is $SCHEMA_REGISTRY_URL when set (any Confluent-compatible
registry, URL including its API path), else Apicurio Registry started from
Maven Central's distribution by LocalRegistry for this session. A registry that
cannot start is a failure, not a skip.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient, record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from agentaudit.codec.registry import RegistryCodec, subject_for
from agentaudit.errors import ConfigError, DecodeError
from tests.avro_support import action, evolved_schemas

pytestmark = pytest.mark.integration


@pytest.fixture()
def client(schema_registry_url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": schema_registry_url})


def unique_namespace() -> str:
    """Subjects no other test (or earlier run against a shared registry) uses."""
    return f"test.n{uuid.uuid4().hex[:12]}"


def test_round_trip(schema_registry_url: str) -> None:
    codec = RegistryCodec.from_url(schema_registry_url)
    datum = action(tool="search", attributes={"k": "v"})
    data = codec.encode("AgentAction", datum)
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == codec.schema_id("AgentAction")
    fresh = RegistryCodec.from_url(schema_registry_url)  # knows no ids: must ask the registry
    decoded = fresh.decode("AgentAction", data)
    assert {k: decoded[k] for k in datum} == datum


def test_an_older_version_decodes_with_the_newest_reader(
    tmp_path: Path, client: SchemaRegistryClient, schema_registry_url: str
) -> None:
    namespace = unique_namespace()
    old, new = evolved_schemas(tmp_path, namespace)
    subject = f"{namespace}.AgentAction"
    old_codec = RegistryCodec(client, old)
    data = old_codec.encode("AgentAction", action(action_type="data_read"))
    client.set_compatibility(subject, "BACKWARD")

    # A separate client: its cache has not seen v1, so the writer comes from the registry.
    new_codec = RegistryCodec.from_url(schema_registry_url, new)
    decoded = new_codec.decode("AgentAction", data)
    assert decoded["action_type"] == "data_read" and decoded["risk_hint"] is None

    # The registry itself accepts v2 under BACKWARD: it agrees with our rule.
    v2_bytes = new_codec.encode("AgentAction", action(action_type="memory_write", risk_hint="high"))
    assert new_codec.schema_id("AgentAction") != old_codec.schema_id("AgentAction")
    assert client.get_versions(subject) == [1, 2]
    assert new_codec.decode("AgentAction", v2_bytes)["risk_hint"] == "high"


def test_the_registry_refuses_an_incompatible_version(tmp_path: Path, client: SchemaRegistryClient) -> None:
    namespace = unique_namespace()
    old, _ = evolved_schemas(tmp_path, namespace)
    RegistryCodec(client, old).encode("AgentAction", action())
    client.set_compatibility(f"{namespace}.AgentAction", "BACKWARD")
    broken = copy.deepcopy(old.latest("AgentAction").raw)
    broken["fields"].append({"name": "required_later", "type": "string", "doc": "no default: breaks old data"})
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "AgentAction.v1.avsc").write_text(json.dumps(old.latest("AgentAction").raw))
    (folder / "AgentAction.v2.avsc").write_text(json.dumps(broken))
    from agentaudit.codec.schemas import load_schemas

    with pytest.raises(ConfigError, match="incompatible"):
        RegistryCodec(client, load_schemas(folder)).encode("AgentAction", action())


def test_an_unknown_id_is_unknown_schema(schema_registry_url: str) -> None:
    with pytest.raises(DecodeError) as err:
        RegistryCodec.from_url(schema_registry_url).decode("AgentAction", b"\x00\x7f\xff\xff\xf0\x02")
    assert err.value.code == "unknown_schema"


def test_another_record_is_a_mismatch(schema_registry_url: str) -> None:
    codec = RegistryCodec.from_url(schema_registry_url)
    incident = codec.encode(
        "Incident",
        dict(incident_id="i", version=1, tenant_id="t", agent_id="a", rule_id="r", severity="low", title="x",
             status="open", first_seen=1, last_seen=1, hit_count=1),
    )
    with pytest.raises(DecodeError) as err:
        RegistryCodec.from_url(schema_registry_url).decode("AgentAction", incident)
    assert err.value.code == "schema_mismatch"


# -- cross-check with confluent-kafka's own serializer, same real registry ----


def _serde(client: SchemaRegistryClient) -> tuple[AvroSerializer, AvroDeserializer, SerializationContext]:
    codec = RegistryCodec(client)
    conf = {"subject.name.strategy": record_subject_name_strategy}
    serializer = AvroSerializer(client, json.dumps(codec.schemas.latest("AgentAction").raw), conf=conf)
    return serializer, AvroDeserializer(client), SerializationContext("agent.actions", MessageField.VALUE)


def test_confluent_serializer_bytes_decode_with_our_codec(client: SchemaRegistryClient, schema_registry_url: str) -> None:
    serializer, _, ctx = _serde(client)
    datum = action(tool="search", sequence=7)
    data = serializer(datum, ctx)
    assert data is not None
    decoded = RegistryCodec.from_url(schema_registry_url).decode("AgentAction", data)
    assert {k: decoded[k] for k in datum} == datum


def test_our_bytes_decode_with_confluent_deserializer(client: SchemaRegistryClient) -> None:
    _, deserializer, ctx = _serde(client)
    data = RegistryCodec(client).encode("AgentAction", action(tool="search", sequence=8))
    decoded = deserializer(data, ctx)
    assert isinstance(decoded, dict)
    assert decoded["tool"] == "search" and decoded["sequence"] == 8
    # The deserializer converts logical types; the instant is the same.
    assert int(decoded["agent_time"].timestamp() * 1_000_000) == 1_700_000_000_000_000


def test_subjects_follow_the_record_name_strategy(schema_registry_url: str, client: SchemaRegistryClient) -> None:
    codec = RegistryCodec.from_url(schema_registry_url)
    codec.encode("AgentAction", action())
    assert subject_for(codec.schemas.latest("AgentAction")) in client.get_subjects()
    registered = client.get_schema(codec.schema_id("AgentAction"))
    assert isinstance(registered, Schema) and json.loads(registered.schema_str or "{}")["name"] == "AgentAction"
