"""The canonical form is exactly what schemas/signing.md says, does not depend
on dict or map order or on framing, and is what the processor recomputes from
the decoded message."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from fastavro import schemaless_writer

from agentaudit.codec import SingleObjectCodec, load_schemas
from agentaudit.codec.single_object import HEADER_LEN
from agentaudit.errors import ConfigError
from agentaudit.signing import canonical
from agentaudit.signing.canonical import DOMAIN_TAG, canonical_bytes
from tests.unit.signing import reference_encoder
from tests.unit.signing.support import VECTORS, random_action, vector_action

CODEC = SingleObjectCodec()


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_vectors_match_the_code_and_an_independent_reading_of_the_spec(vector: dict[str, Any]) -> None:
    assert canonical_bytes(vector["action"]).hex() == vector["canonical_hex"]
    assert reference_encoder.canonical(vector["action"]).hex() == vector["canonical_hex"]


def test_random_actions_match_the_independent_encoder_and_the_wire_body() -> None:
    rng = random.Random(20261125)
    v1 = load_schemas().versions("AgentAction")[0].parsed
    for _ in range(500):
        action = random_action(rng)
        expected = reference_encoder.canonical(action)
        assert canonical_bytes(action) == expected, action
        # Third opinion: plain Avro with the signature nulled and the map pre-sorted.
        plain = {**action, "signature": None, "attributes": dict(sorted(action["attributes"].items()))}
        out = io.BytesIO()
        schemaless_writer(out, v1, plain)
        assert DOMAIN_TAG + out.getvalue() == expected


def test_bytes_do_not_depend_on_dict_or_map_insertion_order() -> None:
    rng = random.Random(7)
    action = vector_action("full")
    expected = canonical_bytes(action)
    for _ in range(50):
        shuffled = _shuffled(action, rng)
        assert list(shuffled) != list(action) or list(shuffled["attributes"]) != list(action["attributes"])
        assert canonical_bytes(shuffled) == expected


def _shuffled(value: Any, rng: random.Random) -> Any:
    if not isinstance(value, dict):
        return value
    items = list(value.items())
    rng.shuffle(items)
    return {k: _shuffled(v, rng) for k, v in items}


def test_processor_recomputes_the_signed_bytes_from_the_decoded_message() -> None:
    # The emitter computes the form from its dict, the processor from what it
    # decoded; attributes travel in whatever order the writer chose.
    action = {**vector_action("full"), "signature": b"\x01" * 64}
    decoded = CODEC.decode("AgentAction", CODEC.encode("AgentAction", action))
    assert canonical_bytes(decoded) == canonical_bytes(action)


def test_no_framing_header_and_the_domain_tag_first() -> None:
    action = vector_action("minimal")
    form = canonical_bytes(action)
    framed = CODEC.encode("AgentAction", action)
    assert form.startswith(DOMAIN_TAG) and len(DOMAIN_TAG) == 21 and DOMAIN_TAG.endswith(b"\x00")
    assert form[len(DOMAIN_TAG):] == framed[HEADER_LEN:]  # same body, no C3 01 + fingerprint


def test_signature_is_not_covered_and_key_id_is() -> None:
    action = vector_action("minimal")
    base = canonical_bytes(action)
    assert canonical_bytes({**action, "signature": b"\xff" * 64}) == base
    assert canonical_bytes({**action, "key_id": "another-key"}) != base
    assert canonical_bytes({**action, "key_id": None}) != base


def test_absent_optional_fields_equal_their_defaults() -> None:
    action = vector_action("minimal")
    explicit = {**action, "tool": None, "resource": None, "error": None, "attributes": {}, "usage": None}
    assert canonical_bytes(explicit) == canonical_bytes(action)
    usage = {"input_tokens": 0, "output_tokens": 0, "cost_micros": 0, "currency": "USD"}
    assert canonical_bytes({**action, "usage": {}}) == canonical_bytes({**action, "usage": usage})


def test_fields_of_later_schema_versions_are_not_covered() -> None:
    action = vector_action("minimal")
    assert canonical_bytes({**action, "risk_hint": "v2 field"}) == canonical_bytes(action)


def test_a_value_v1_cannot_encode_has_no_canonical_form() -> None:
    with pytest.raises(ValueError, match="canonical form v1"):
        canonical_bytes({**vector_action("minimal"), "action_type": "memory_write"})  # a v2-only symbol
    with pytest.raises(ValueError, match="canonical form v1"):
        canonical_bytes({**vector_action("minimal"), "sequence": "7"})


def test_form_is_pinned_to_the_v1_schema_file(monkeypatch: pytest.MonkeyPatch) -> None:
    canonical._v1_schema.cache_clear()
    monkeypatch.setattr(canonical, "CANONICAL_SCHEMA_FINGERPRINT", "0000000000000000")
    try:
        with pytest.raises(ConfigError, match="released schema file was edited"):
            canonical_bytes(vector_action("minimal"))
    finally:
        canonical._v1_schema.cache_clear()
