"""The canonical byte form of an AgentAction: the exact bytes an agent signs.

Specified in schemas/signing.md (with test vectors in schemas/signing-vectors.json):

    DOMAIN_TAG || Avro binary encoding of the action under AgentAction v1,
                  with signature = null, key_id as sent, and the attributes
                  map written as one block sorted by the UTF-8 bytes of its keys

No framing header (no C3 01 fingerprint, no Confluent schema id), so the form
does not depend on how the message travelled, and the processor computes it
from the decoded action, never from the bytes it received: what is verified is
exactly what is stored.

The form is pinned to AgentAction *v1*'s fields even after the schema evolves;
fields added by later versions are not covered (schemas/signing.md, "Future
schema versions").
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import cache
from typing import Any

from fastavro import schemaless_writer

from agentaudit.codec.schemas import load_schemas
from agentaudit.errors import ConfigError

DOMAIN_TAG = b"agentaudit/action/v1\x00"
"""Prefix of every canonical form. It keeps a signature over an action from
being valid for anything else the same key might ever sign (a seal, a registry
change), and names the version of the form. Fixed length, NUL-terminated."""

CANONICAL_SCHEMA = ("AgentAction", 1)
"""The schema version whose fields, order and types the form is defined by."""

CANONICAL_SCHEMA_FINGERPRINT = "6a57df369945451f"
"""CRC-64-AVRO of AgentAction v1's parsing canonical form (little-endian hex).
If the shipped v1 file ever changed in a way that alters the encoding, every
signature would silently change meaning; this pin makes it a start-up error."""


@cache
def _v1_schema() -> dict[str, Any]:
    name, version = CANONICAL_SCHEMA
    for candidate in load_schemas().versions(name):
        if candidate.version == version:
            if candidate.fingerprint.hex() != CANONICAL_SCHEMA_FINGERPRINT:
                raise ConfigError(
                    f"{name}.v{version}.avsc has fingerprint {candidate.fingerprint.hex()}, "
                    f"but the canonical signing form is pinned to {CANONICAL_SCHEMA_FINGERPRINT}: "
                    "a released schema file was edited"
                )
            return candidate.parsed
    raise ConfigError(f"{name}.v{version}.avsc is missing; the canonical signing form is defined by it")


def canonical_bytes(action: Mapping[str, Any]) -> bytes:
    """The bytes an agent signs for `action` (its key_id included, its signature not).

    Fields absent from the mapping take their v1 default; keys that are not
    v1 fields are ignored (they are not covered). Raises ValueError if a value
    cannot be encoded under v1 (a wrong type, or an enum symbol v1 lacks):
    such an action cannot have been signed under this form.
    """
    datum = dict(action)
    datum["signature"] = None
    attributes = datum.get("attributes")
    if attributes and len(attributes) > 1:
        # Code-point order of str keys is the byte order of their UTF-8 forms
        # (UTF-8 preserves code-point order), so no encoding is needed to sort.
        datum["attributes"] = dict(sorted(attributes.items()))
    out = io.BytesIO()
    out.write(DOMAIN_TAG)
    try:
        schemaless_writer(out, _v1_schema(), datum)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"action cannot be put in canonical form v1: {exc}") from None
    return out.getvalue()
