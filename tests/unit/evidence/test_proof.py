"""Inclusion proofs built and checked offline, on a real chain and seal made in memory."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from agentaudit.chain.merkle import verify_inclusion
from agentaudit.evidence.proof import build_proof, verify_proof
from tests.unit.evidence.support import FORM, KeySigner, T0, make_chain

SIGNER = KeySigner()
CHAIN = make_chain(SIGNER, n=5)


def proof_of(position: int) -> dict[str, Any]:
    i = position - 1
    return build_proof(
        record_value=CHAIN.values[i], record=CHAIN.records[i], agent_id=CHAIN.agent_id, position=position,
        prev_hash=CHAIN.prevs[i], chain_hash=CHAIN.hashes[i], seal_value=CHAIN.seal_value, seal=CHAIN.seal,
        seal_hash=FORM.seal_hash(CHAIN.seal), covered_hashes=CHAIN.hashes, public_keys_document=SIGNER.document(),
        confluent_ids={}, created_at_us=T0,
    )


def kinds(document: Any, keys: dict[str, bytes] | None = None) -> set[str]:
    result = verify_proof(document, keys)
    assert not result.ok
    return {f.kind for f in result.findings}


@pytest.mark.parametrize("position", [1, 2, 3, 4, 5])
def test_every_position_proves(position: int) -> None:
    document = proof_of(position)
    inclusion = document["inclusion"]
    assert verify_inclusion(CHAIN.hashes[position - 1], inclusion["leaf_index"], inclusion["tree_size"],
                            [bytes.fromhex(h) for h in inclusion["audit_path"]], CHAIN.seal["merkle_root"])
    for keys in (None, SIGNER.public_keys()):
        result = verify_proof(document, keys)
        assert result.ok, result.findings
        assert (result.position, result.seal_seq, result.key_id) == (position, 1, SIGNER.current_key_id)


def test_the_proof_names_the_event_its_bytes_hold() -> None:
    document = proof_of(2)
    document["event_id"] = CHAIN.records[3]["action"]["event_id"]
    assert kinds(document) == {"record_fields_mismatch"}
    document = proof_of(2)
    document["record"]["outcome"] = "denied"
    assert kinds(document) == {"record_fields_mismatch"}


def test_changed_record_bytes_fail() -> None:
    document = proof_of(3)
    value = base64.b64decode(document["record"]["value"]).replace(b"alice", b"alicf")
    document["record"]["value"] = base64.b64encode(value).decode()
    assert "record_modified" in kinds(document)


def test_a_wrong_place_in_the_seal_fails() -> None:
    document = proof_of(3)
    document["inclusion"]["leaf_index"] = 3
    assert {"proof_wrong_seal", "proof_path_invalid"} <= kinds(document)
    # A path for leaf 2 of 5 also "verifies" as leaf 2 of 8 (RFC 6962 moves the
    # 5th leaf up unpaired, as a subtree of 8 would be): only binding the tree
    # size to the positions the signed seal covers catches it.
    document = proof_of(3)
    document["inclusion"]["tree_size"] = 8
    assert kinds(document) == {"proof_wrong_seal"}


def test_untrusted_keys_and_unknown_signers_fail() -> None:
    other = KeySigner()
    assert {"seal_unknown_key", "public_key_untrusted"} <= kinds(proof_of(1), other.public_keys())
    document = proof_of(1)
    document["public_keys"] = other.document()
    assert kinds(document) == {"seal_unknown_key"}


@pytest.mark.parametrize("breakage", [
    lambda d: d.clear(),
    lambda d: d.update(format="something-else/v1"),
    lambda d: d["record"].pop("hash"),
    lambda d: d["record"].update(prev_hash="00"),
    lambda d: d["record"].update(position="3"),
    lambda d: d["inclusion"].update(audit_path="abc"),
    lambda d: d["inclusion"]["audit_path"].append("zz"),
    lambda d: d["seal"].update(value="@@"),
    lambda d: d.update(confluent_schema_ids=[1]),
])
def test_malformed_proofs_are_reported_not_raised(breakage: Any) -> None:
    document = copy.deepcopy(proof_of(2))
    breakage(document)
    assert "proof_malformed" in kinds(document)


def test_garbage_is_a_malformed_proof() -> None:
    cases: tuple[object, ...] = (None, [], "proof", {"format": "agentaudit-inclusion-proof/v1"})
    for garbage in cases:
        assert kinds(garbage) == {"proof_malformed"}
