from __future__ import annotations

import io
import os

import pytest
from fastavro import parse_schema, schemaless_writer

from agentaudit.chain.forms import PrefixForm, avro_bytes, chain_link_tail, zigzag_varint
from agentaudit.chain.merkle import Frontier, root
from agentaudit.codec import SingleObjectCodec, load_schemas
from tests.sink_support import record as sink_record


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100])
def test_frontier_root_equals_the_rfc6962_root_and_survives_a_round_trip(n: int) -> None:
    leaves = [os.urandom(32) for _ in range(n)]
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    assert frontier.root() == root(leaves)
    assert len(frontier.nodes()) == bin(n).count("1")  # one perfect subtree per set bit
    again = Frontier(frontier.count, frontier.nodes())
    extra = os.urandom(32)
    again.append(extra)
    assert again.root() == root([*leaves, extra])


def test_frontier_refuses_nodes_that_do_not_add_up() -> None:
    with pytest.raises(ValueError):
        Frontier(3, [(1, b"\0" * 32)])


@pytest.mark.parametrize("value", [0, 1, -1, 63, 64, -65, 2**31, 2**62, -(2**63)])
def test_zigzag_varint_matches_fastavro(value: int) -> None:
    out = io.BytesIO()
    schemaless_writer(out, parse_schema("long"), value)
    assert zigzag_varint(value) == out.getvalue()
    out = io.BytesIO()
    schemaless_writer(out, parse_schema("bytes"), b"x" * 70)
    assert avro_bytes(b"x" * 70) == out.getvalue()


def test_prefix_and_tail_make_the_full_audit_record() -> None:
    record = sink_record(5, full=True)
    codec = SingleObjectCodec()
    form = PrefixForm(load_schemas(), "AuditRecord", ("chain",))
    prev, digest = os.urandom(32), os.urandom(32)
    full = codec.encode("AuditRecord", {**record, "chain": {"position": 300, "prev_hash": prev, "hash": digest}})
    assert full == codec.header("AuditRecord") + form.encode(record) + chain_link_tail(300, prev, digest)


def test_prefix_form_refuses_a_field_that_is_not_last() -> None:
    with pytest.raises(ValueError, match="must end with"):
        PrefixForm(load_schemas(), "AuditRecord", ("action",))
