"""Decoding stored values offline with the shipped schemas, for both framings."""

from __future__ import annotations

import pytest

from agentaudit.evidence.formats import FormatError
from agentaudit.evidence.values import ValueReader, parse_confluent_ids
from tests.unit.evidence.support import SCHEMAS, KeySigner, make_chain

CHAIN = make_chain(KeySigner(), n=2)
RECORD_V2 = SCHEMAS.latest("AuditRecord").fingerprint


def confluent(value: bytes, schema_id: int) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + value[10:]


def test_single_object_values_decode_by_their_fingerprint() -> None:
    reader = ValueReader(SCHEMAS)
    assert reader.decode("AuditRecord", CHAIN.values[1]) == CHAIN.records[1]
    assert reader.decode("Seal", CHAIN.seal_value) == CHAIN.seal
    with pytest.raises(FormatError, match="is a Seal, expected a AuditRecord"):
        reader.decode("AuditRecord", CHAIN.seal_value)
    with pytest.raises(FormatError, match="fingerprint"):
        reader.decode("AuditRecord", b"\xc3\x01" + b"\x00" * 8 + CHAIN.values[0][10:])


def test_a_value_that_is_not_the_record_it_claims_does_not_decode() -> None:
    with pytest.raises(FormatError, match="does not decode"):
        ValueReader(SCHEMAS).decode("AuditRecord", CHAIN.values[0][:-40])


def test_confluent_ids_need_a_mapping_to_a_shipped_schema() -> None:
    value = confluent(CHAIN.values[0], 42)
    with pytest.raises(FormatError, match="schema id 42 is not mapped"):
        ValueReader(SCHEMAS).decode("AuditRecord", value)
    assert ValueReader(SCHEMAS, {42: RECORD_V2}).decode("AuditRecord", value) == CHAIN.records[0]
    with pytest.raises(FormatError, match="no schema shipped"):
        ValueReader(SCHEMAS, {42: b"\x01" * 8}).decode("AuditRecord", value)


def test_the_exporter_resolves_each_id_once_and_records_the_mapping() -> None:
    asked: list[int] = []

    def resolve(schema_id: int) -> bytes:
        asked.append(schema_id)
        return RECORD_V2

    reader = ValueReader(SCHEMAS, resolve=resolve)
    for value in CHAIN.values:
        reader.decode("AuditRecord", confluent(value, 7))
    assert asked == [7]
    assert reader.confluent_ids_json() == {"7": RECORD_V2.hex()}
    assert parse_confluent_ids(reader.confluent_ids_json()) == {7: RECORD_V2}


def test_malformed_id_maps_are_refused() -> None:
    assert parse_confluent_ids(None) == {}
    for bad in ([1], {"x": "00"}, {"1": "zz"}):
        with pytest.raises(FormatError):
            parse_confluent_ids(bad)
