"""Avro encoding of the pipeline's messages: schemas, single-object encoding and
the Confluent schema-registry wire format, behind one Codec interface."""

from agentaudit.codec.base import Codec
from agentaudit.codec.schemas import SchemaSet, load_schemas
from agentaudit.codec.single_object import SingleObjectCodec

__all__ = ["Codec", "SchemaSet", "SingleObjectCodec", "load_schemas"]
