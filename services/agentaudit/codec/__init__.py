"""Avro encoding of the pipeline's messages: schemas, single-object encoding and
the Confluent schema-registry wire format, behind one Codec interface.

make_codec(settings) picks one; RegistryCodec lives in agentaudit.codec.registry
and is imported only when a registry is configured.
"""

from agentaudit.codec.base import Codec, body_offset
from agentaudit.codec.factory import make_codec
from agentaudit.codec.schemas import SchemaSet, load_schemas
from agentaudit.codec.single_object import SingleObjectCodec

__all__ = ["Codec", "body_offset", "SchemaSet", "SingleObjectCodec", "load_schemas", "make_codec"]
