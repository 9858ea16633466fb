"""Chooses the message encoding from the settings, in one place."""

from __future__ import annotations

from agentaudit.codec.base import Codec
from agentaudit.codec.schemas import SchemaSet
from agentaudit.codec.single_object import SingleObjectCodec
from agentaudit.settings import Settings


def make_codec(settings: Settings, schemas: SchemaSet | None = None) -> Codec:
    """RegistryCodec (Confluent wire format) when AGENTAUDIT_SCHEMA_REGISTRY_URL
    is set, else SingleObjectCodec (Avro single-object encoding).

    Every producer and consumer of a pipeline must make the same choice: each
    codec refuses the other's bytes with DecodeError("not_avro").
    """
    if settings.schema_registry_url:
        # Imported here so the single-object path never loads the registry client.
        from agentaudit.codec.registry import RegistryCodec

        return RegistryCodec.from_url(settings.schema_registry_url, schemas)
    return SingleObjectCodec(schemas)
