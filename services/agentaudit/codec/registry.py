"""The Confluent schema-registry wire format: byte 0x00, the writer schema's
registry id as 4 bytes big-endian, then the Avro binary body.

Used when AGENTAUDIT_SCHEMA_REGISTRY_URL is set. Any Confluent-compatible
registry works (Confluent Schema Registry, Apicurio Registry's /apis/ccompat/v7,
Redpanda); bytes are interchangeable with confluent-kafka's AvroSerializer and
AvroDeserializer (a test checks both directions).

Subjects follow the RecordNameStrategy: the subject of a schema is its full
record name, e.g. `io.agentaudit.AgentAction`. The codec's interface is by
schema name, not by topic; one record type travels on several physical topics
(every AGENTAUDIT_TOPIC_PREFIX gives a new set), and TopicNameStrategy would
make each prefix a separate compatibility history of the same schema. Producers
using confluent-kafka's serializer must set
`subject.name.strategy: record_subject_name_strategy` to share the subjects.

Why not AvroSerializer/AvroDeserializer themselves: they convert logical types
to datetime/UUID objects, run data-contract rules per message, and raise their
own SerializationError; the pipeline wants integers of microseconds (as the
single-object codec gives), one error vocabulary (DecodeError codes) and the
fewest steps per message. So this codec talks to the registry client directly
and reads bodies with the same fastavro helpers as SingleObjectCodec.
"""

from __future__ import annotations

import io
import json
import struct
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro import parse_schema
from fastavro.schema import to_parsing_canonical_form

from agentaudit.codec.schemas import SchemaSet, SchemaVersion, _strip_logical, load_schemas
from agentaudit.codec.single_object import MARKER as SINGLE_OBJECT_MARKER
from agentaudit.codec.single_object import read_body, write_body
from agentaudit.errors import ConfigError, DecodeError, TransientError

MAGIC = b"\x00"
HEADER_LEN = 5
_ID = struct.Struct(">I")

# An id the registry does not know is remembered for this long, so a flood of
# garbage that happens to start with 0x00 costs one lookup per id and minute,
# not one per message. Ids are never reused, so a miss rarely turns into a hit;
# the expiry only covers a registry restored from backup after we looked.
_UNKNOWN_ID_TTL_S = 60.0
_UNKNOWN_ID_LIMIT = 10_000


def subject_for(schema: SchemaVersion) -> str:
    """RecordNameStrategy subject: the record's full name, namespace included."""
    namespace = schema.raw.get("namespace")
    return f"{namespace}.{schema.name}" if namespace else schema.name


def full_name(raw: dict[str, Any]) -> str:
    name = str(raw.get("name", ""))
    namespace = raw.get("namespace")
    return name if "." in name or not namespace else f"{namespace}.{name}"


def registry_schema(schema: SchemaVersion) -> Schema:
    """The schema text sent to the registry: the .avsc file's JSON in full.

    Docs and defaults stay in, unlike in the parsing canonical form: readers
    resolving an older writer need the defaults, and tools reading the
    registry show the docs.
    """
    return Schema(json.dumps(schema.raw, separators=(",", ":")), "AVRO")


@dataclass(frozen=True)
class _Writer:
    """A writer schema fetched from the registry, ready for fastavro."""

    full_name: str
    parsed: dict[str, Any]
    canonical_form: str


@dataclass(frozen=True)
class _Plan:
    """How to read one (schema id, expected name) pair: the writer schema, and
    the reader schema or None when writer and reader are the same schema (no
    resolution step, the fastest read)."""

    writer: dict[str, Any]
    reader: dict[str, Any] | None


class RegistryCodec:
    """Codec for the Confluent wire format against a schema registry.

    encode() writes the newest local version of a schema (schemas/avro),
    registering it under its subject on first use (or, with
    auto_register=False, only looking it up; deployments that register schemas
    out of band use that). decode() fetches the writer schema by the message's
    id and reads it as the newest local version, so messages of older versions
    decode to the current shape.

    Registry contract: at most one registry round trip per schema id (and per
    name on encode) for the life of the codec, never one per message; lookups
    block the calling thread, so an asyncio caller pays one short pause per new
    id. A registry that does not answer raises TransientError (retry, do not
    commit); an id it does not know raises DecodeError("unknown_schema").
    """

    def __init__(
        self,
        client: SchemaRegistryClient,
        schemas: SchemaSet | None = None,
        *,
        auto_register: bool = True,
    ) -> None:
        self.client = client
        self.schemas = schemas or load_schemas()
        self.auto_register = auto_register
        self._encode_cache: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self._writers: dict[int, _Writer] = {}
        self._plans: dict[tuple[int, str], _Plan] = {}
        self._unknown_ids: dict[int, float] = {}

    @classmethod
    def from_url(cls, url: str, schemas: SchemaSet | None = None, *, auto_register: bool = True) -> RegistryCodec:
        """A codec with its own registry client; a few short retries, then TransientError."""
        client = SchemaRegistryClient({"url": url, "max.retries": 2, "retries.wait.ms": 200, "timeout": 10})
        return cls(client, schemas, auto_register=auto_register)

    # -- encode ---------------------------------------------------------------

    def schema_id(self, name: str) -> int:
        """Registry id of the newest local version of `name` (cached after the first call)."""
        header, _ = self._encoder(name)
        return int(_ID.unpack_from(header, 1)[0])

    def encode(self, name: str, datum: dict[str, Any]) -> bytes:
        header, parsed = self._encoder(name)
        out = io.BytesIO()
        out.write(header)
        write_body(datum, parsed, out)
        return out.getvalue()

    def header(self, name: str) -> bytes:
        return self._encoder(name)[0]

    def encode_version(self, name: str, version: int, datum: dict[str, Any]) -> bytes:
        """Encode with an older local version (tests, and replaying old producers)."""
        schema = self._version(name, version)
        schema_id = self._register(schema)
        out = io.BytesIO()
        out.write(MAGIC + _ID.pack(schema_id))
        write_body(datum, schema.parsed, out)
        return out.getvalue()

    def register_all(self) -> dict[str, list[int]]:
        """Register every local version of every schema, oldest first.

        The registry's history of each subject then mirrors schemas/avro, so its
        own compatibility check (when configured) runs against every version.
        Returns the ids by schema name.
        """
        ids: dict[str, list[int]] = {}
        for name in self.schemas.names:
            ids[name] = [self._register(v) for v in self.schemas.versions(name)]
        return ids

    def _encoder(self, name: str) -> tuple[bytes, dict[str, Any]]:
        cached = self._encode_cache.get(name)
        if cached is None:
            latest = self.schemas.latest(name)
            cached = (MAGIC + _ID.pack(self._register(latest)), latest.parsed)
            self._encode_cache[name] = cached
        return cached

    def _version(self, name: str, version: int) -> SchemaVersion:
        for candidate in self.schemas.versions(name):
            if candidate.version == version:
                return candidate
        raise ConfigError(f"no version {version} of Avro schema {name!r} under schemas/avro")

    def _register(self, schema: SchemaVersion) -> int:
        subject = subject_for(schema)
        schema_id: int | None
        try:
            if self.auto_register:
                schema_id = self.client.register_schema(subject, registry_schema(schema))
            else:
                schema_id = self.client.lookup_schema(subject, registry_schema(schema)).schema_id
        except SchemaRegistryError as exc:
            if exc.http_status_code == 409:
                raise ConfigError(
                    f"registry refused {subject} v{schema.version} as incompatible with its history: {exc}"
                ) from None
            if exc.http_status_code == 404 and not self.auto_register:
                raise ConfigError(f"{subject} v{schema.version} is not registered and auto-registration is off") from None
            raise TransientError(f"schema registry failed registering {subject}: {exc}") from exc
        except Exception as exc:  # transport errors of whichever HTTP client confluent-kafka uses
            raise TransientError(f"schema registry unreachable registering {subject}: {exc}") from exc
        if schema_id is None:
            raise TransientError(f"schema registry returned no id for {subject}")
        # Our own messages then decode without asking the registry what we just told it.
        self._writers.setdefault(
            schema_id, _Writer(subject_for(schema), schema.parsed, schema.canonical_form)
        )
        return int(schema_id)

    # -- decode ---------------------------------------------------------------

    def decode(self, name: str, data: bytes) -> dict[str, Any]:
        if len(data) < HEADER_LEN or data[0] != 0:
            if data[:2] == SINGLE_OBJECT_MARKER:
                raise DecodeError("not_avro", "value is Avro single-object encoded, but this pipeline uses a schema registry")
            raise DecodeError("not_avro", "value does not start with the schema-registry magic byte 0 and a 4-byte id")
        schema_id = _ID.unpack_from(data, 1)[0]
        plan = self._plans.get((schema_id, name))
        if plan is None:
            plan = self._plan(schema_id, name)
        return read_body(data, HEADER_LEN, plan.writer, plan.reader)

    def _plan(self, schema_id: int, name: str) -> _Plan:
        writer = self._writer(schema_id)
        latest = self.schemas.latest(name)
        expected = subject_for(latest)
        if writer.full_name != expected:
            raise DecodeError("schema_mismatch", f"message is a {writer.full_name} (schema id {schema_id}), expected {expected}")
        same = writer.canonical_form == latest.canonical_form
        plan = _Plan(writer.parsed, None if same else latest.parsed)
        self._plans[(schema_id, name)] = plan
        return plan

    def _writer(self, schema_id: int) -> _Writer:
        writer = self._writers.get(schema_id)
        if writer is not None:
            return writer
        now = time.monotonic()
        if self._unknown_ids.get(schema_id, 0.0) > now:
            raise DecodeError("unknown_schema", f"schema registry has no schema with id {schema_id}")
        try:
            fetched = self.client.get_schema(schema_id)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                if len(self._unknown_ids) >= _UNKNOWN_ID_LIMIT:
                    self._unknown_ids.clear()
                self._unknown_ids[schema_id] = now + _UNKNOWN_ID_TTL_S
                raise DecodeError("unknown_schema", f"schema registry has no schema with id {schema_id}") from None
            raise TransientError(f"schema registry failed looking up id {schema_id}: {exc}") from exc
        except Exception as exc:  # transport errors: the registry, not the message, is at fault
            raise TransientError(f"schema registry unreachable looking up id {schema_id}: {exc}") from exc
        writer = _parse_writer(schema_id, fetched)
        self._writers[schema_id] = writer
        return writer


def _parse_writer(schema_id: int, fetched: Schema) -> _Writer:
    if (fetched.schema_type or "AVRO").upper() != "AVRO":
        raise DecodeError("schema_mismatch", f"schema id {schema_id} is a {fetched.schema_type} schema, not Avro")
    if fetched.references:
        # Our schemas are self-contained; a writer with references was not written by us.
        raise DecodeError("schema_mismatch", f"schema id {schema_id} uses schema references, which we do not resolve")
    try:
        raw = json.loads(fetched.schema_str or "")
        if not isinstance(raw, dict) or raw.get("type") != "record":
            raise ValueError("not a record schema")
        parsed = parse_schema(_strip_logical(raw))
        if not isinstance(parsed, dict):
            raise ValueError("not a record schema")
        canonical = str(to_parsing_canonical_form(raw))
    except Exception as exc:
        raise DecodeError("schema_mismatch", f"schema id {schema_id} is not a usable Avro record schema: {exc}") from None
    return _Writer(full_name(raw), parsed, canonical)

