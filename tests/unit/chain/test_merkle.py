"""RFC 6962 Merkle hashing against published reference vectors and a literal
transcription of the RFC's definitions."""

from __future__ import annotations

import hashlib

import pytest

from agentaudit.chain import merkle
from agentaudit.chain.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_inclusion_proof,
    verify_inclusion,
)

# Reference vectors copied from transparency-dev/merkle (the Merkle code split
# out of trillian; certificate-transparency-go uses the same set):
#   proof/verify_test.go  -- `leaves`, `roots` (sizes 1..8), `inclusionProofs`
#   rfc6962/rfc6962_test.go -- empty root, empty-leaf, leaf and node hashes
# They are typed in from those files, not computed with this package.
LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    bytes.fromhex(h)
    for h in (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# (1-based leaf number, tree size, audit path), as in verify_test.go.
INCLUSION_PROOFS: list[tuple[int, int, list[str]]] = [
    (1, 1, []),
    (1, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (6, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (3, 3, [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    ]),
    (2, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]
EMPTY_TREE = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def test_hasher_matches_rfc6962_reference_hashes() -> None:
    assert EMPTY_ROOT.hex() == EMPTY_TREE
    assert root([]).hex() == EMPTY_TREE
    # The empty leaf is not the empty tree: the 0x00 prefix separates them.
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_short_input_sha256_agrees_with_hashlib() -> None:
    for data in (b"", b"abc", bytes(range(65)), bytes(range(256)) * 5):
        assert merkle._short_sha256(data).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("length", [0, 32, 64, 65, 300])
def test_leaf_hash_is_the_same_on_both_sides_of_the_short_input_cutoff(length: int) -> None:
    data = bytes(i % 256 for i in range(length))
    assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()
    leaves = [data, b"short"]
    assert root(leaves) == _rfc_mth(leaves)


@pytest.mark.parametrize("size", range(1, 9))
def test_root_matches_reference_roots(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size - 1]


@pytest.mark.parametrize(("number", "size", "path"), INCLUSION_PROOFS)
def test_inclusion_proof_matches_reference_paths(number: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(number - 1, LEAVES[:size])
    assert [p.hex() for p in proof] == path
    assert verify_inclusion(LEAVES[number - 1], number - 1, size, proof, ROOTS[size - 1])


# A literal transcription of RFC 6962 section 2.1 and 2.1.1 (recursive, split
# at the largest power of two smaller than n), to check the iterative code on
# sizes the published vectors do not cover.
def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _rfc_mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _split(n)
    return hashlib.sha256(b"\x01" + _rfc_mth(d[:k]) + _rfc_mth(d[k:])).digest()


def _rfc_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return _rfc_path(m, d[:k]) + [_rfc_mth(d[k:])]
    return _rfc_path(m - k, d[k:]) + [_rfc_mth(d[:k])]


def _leaves(n: int) -> list[bytes]:
    return [i.to_bytes(2, "big") * (i % 5) for i in range(n)]


MAX_SIZE = 20


@pytest.mark.parametrize("size", range(0, 70))
def test_root_matches_rfc_definition(size: int) -> None:
    leaves = _leaves(size)
    assert root(leaves) == _rfc_mth(leaves)


@pytest.mark.parametrize("size", range(1, MAX_SIZE + 1))
def test_every_inclusion_proof_verifies_and_every_tamper_fails(size: int) -> None:
    leaves = _leaves(size)
    tree_root = root(leaves)
    for index in range(size):
        proof = inclusion_proof(index, leaves)
        assert proof == _rfc_path(index, leaves)
        leaf = leaves[index]
        assert verify_inclusion(leaf, index, size, proof, tree_root)
        assert root_from_inclusion_proof(leaf, index, size, proof) == tree_root

        # Wrong leaf, wrong root.
        assert not verify_inclusion(leaf + b"x", index, size, proof, tree_root)
        assert not verify_inclusion(leaf_hash(leaf), index, size, proof, tree_root)
        assert not verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)
        assert not verify_inclusion(leaf, index, size, proof, SOME_HASH)
        # Every other index, and indexes outside the tree.
        for other in (*range(size), -1, size, size + 1):
            if other != index:
                assert not verify_inclusion(leaf, other, size, proof, tree_root), (index, other)
        # Each element with one bit flipped.
        for i in range(len(proof)):
            tampered = list(proof)
            tampered[i] = bytes([tampered[i][0] ^ 8]) + tampered[i][1:]
            assert not verify_inclusion(leaf, index, size, tampered, tree_root)
        # Elements removed, added, or of the wrong size.
        if proof:
            assert not verify_inclusion(leaf, index, size, proof[:-1], tree_root)
            assert not verify_inclusion(leaf, index, size, proof[1:], tree_root)
            assert not verify_inclusion(leaf, index, size, [proof[0][:-1], *proof[1:]], tree_root)
        assert not verify_inclusion(leaf, index, size, [*proof, SOME_HASH], tree_root)
        assert not verify_inclusion(leaf, index, size, [*proof, tree_root], tree_root)
        assert not verify_inclusion(leaf, index, size, [SOME_HASH, *proof], tree_root)
        assert not verify_inclusion(leaf, index, size, [b"", *proof], tree_root)


def test_reference_proofs_fail_when_corrupted() -> None:
    # The probes verify_test.go's corruptInclusionProof applies to its vectors.
    for number, size, path in INCLUSION_PROOFS[1:]:
        proof = [bytes.fromhex(p) for p in path]
        index, leaf, good = number - 1, LEAVES[number - 1], ROOTS[size - 1]
        probes = [
            (index - 1, size, leaf, proof, good),
            (index + 1, size, leaf, proof, good),
            (index ^ 2, size, leaf, proof, good),
            (index, size * 2, leaf, proof, good),
            (index, size // 2, leaf, proof, good),
            (index, size, b"WrongLeaf", proof, good),
            (index, size, leaf, proof, EMPTY_ROOT),
            (index, size, leaf, proof[:-1], good),
            (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], good),
        ]
        for probe in probes:
            assert not verify_inclusion(probe[2], probe[0], probe[1], probe[3], probe[4]), probe[:2]


def test_degenerate_trees_and_indexes() -> None:
    # A one-leaf tree: the root is the leaf hash and the proof is empty.
    assert root([b"data"]) == leaf_hash(b"data")
    assert inclusion_proof(0, [b"data"]) == []
    assert verify_inclusion(b"data", 0, 1, [], leaf_hash(b"data"))
    assert not verify_inclusion(b"data", 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(b"data", 1, 1, [], leaf_hash(b"data"))
    for bad in (-1, 3):
        with pytest.raises(ValueError):
            inclusion_proof(bad, [b"a", b"b", b"c"])
    with pytest.raises(ValueError):
        inclusion_proof(0, [])
