"""RFC 6962 Merkle tree hashing (Certificate Transparency), no I/O.

Exactly the Merkle Tree Hash of RFC 6962 section 2.1 with SHA-256:

    MTH({})        = SHA-256()                              (the empty string)
    MTH({d(0)})    = SHA-256(0x00 || d(0))                  (a leaf hash)
    MTH(D[n])      = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))
                     where k is the largest power of two smaller than n

The 0x00 / 0x01 prefixes keep a leaf from ever being mistaken for an inner
node (second-preimage resistance), which is why a seal's root cannot be
re-explained by a different set of records.

Every function here takes leaf *inputs* d(i) -- for a seal, the chain hashes
of the sealed records, in chain order -- and applies the leaf hash itself.
Callers never pre-hash with 0x00.

Proofs are lists of 32-byte hashes ordered from the leaf's sibling up to the
root's child, as in RFC 6962 2.1.1 and RFC 9162 2.1.3, so a proof made here
verifies with any RFC 6962 implementation (certificate-transparency-go,
trillian, transparency-dev/merkle) and vice versa.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from typing import Protocol


class _Hash(Protocol):
    def digest(self) -> bytes: ...


def _pick_short_sha256() -> Callable[[bytes], _Hash]:
    """The fastest SHA-256 constructor for inputs of a block or two.

    Why not just hashlib.sha256: hashlib's OpenSSL wrapper costs about 1 us of
    set-up per call whatever the length (measured here with Python 3.11 and
    OpenSSL 3), which dominates for the 33-byte leaves and 65-byte nodes of a
    seal's tree. CPython's builtin SHA-256 (`_sha2` from 3.12, `_sha256`
    before) has almost no set-up, measured about 1.8x faster on leaves, but
    it is plain software SHA-256 and falls behind OpenSSL's SHA-NI code past
    roughly 100 bytes, so it is used only for short inputs. The builtin module
    is a CPython detail; any other interpreter falls back to hashlib. All give
    identical digests (checked here once, and by the reference-vector tests).
    """
    for module in ("_sha2", "_sha256"):
        try:
            builtin = importlib.import_module(module)
            constructor: Callable[[bytes], _Hash] = builtin.sha256
        except (ImportError, AttributeError):
            continue
        if constructor(b"abc").digest() == hashlib.sha256(b"abc").digest():
            return constructor
    return hashlib.sha256


_short_sha256: Callable[[bytes], _Hash] = _pick_short_sha256()
# Longest leaf input still hashed with _short_sha256: with the 0x00 prefix it
# is 65 bytes, two SHA-256 blocks like an inner node, below the crossover.
_SHORT_LEAF = 64

HASH_SIZE = 32
EMPTY_ROOT: bytes = hashlib.sha256(b"").digest()
"""MTH({}): the root of a tree with no leaves (e3b0c442...b855)."""

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf input."""
    sha = _short_sha256 if len(data) <= _SHORT_LEAF else hashlib.sha256
    return sha(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an inner node."""
    return _short_sha256(_NODE_PREFIX + left + right).digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    """Hash adjacent pairs; an odd last node moves up unchanged.

    Building level by level like this yields exactly RFC 6962's tree (split
    at the largest power of two below n): the left-most 2^k leaves always form
    complete subtrees, and a node without a right sibling is the root of the
    right-hand, smaller subtree, which RFC 6962 also leaves unpaired until a
    higher level. The unit tests check this against a literal, recursive
    transcription of the RFC.
    """
    sha = _short_sha256
    prefix = _NODE_PREFIX
    # zip over one iterator twice pairs (0,1), (2,3), ... without copying
    # the level into two slices; an odd last node is left over by zip.
    nodes = iter(level)
    paired = [sha(prefix + left + right).digest() for left, right in zip(nodes, nodes)]
    if len(level) % 2:
        paired.append(level[-1])
    return paired


def _leaf_level(leaves: Sequence[bytes]) -> list[bytes]:
    # One choice for the whole level keeps a branch out of the hot loop.
    sha = _short_sha256 if max(map(len, leaves), default=0) <= _SHORT_LEAF else hashlib.sha256
    prefix = _LEAF_PREFIX
    return [sha(prefix + data).digest() for data in leaves]


def root(leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 Merkle Tree Hash over `leaves`, in order.

    `leaves` are leaf inputs d(i); each is hashed as a leaf (0x00 prefix)
    here. An empty sequence gives EMPTY_ROOT. Linear time; peak memory is
    one 32-byte hash per leaf.
    """
    if not leaves:
        return EMPTY_ROOT
    level = _leaf_level(leaves)
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """The RFC 6962 (2.1.1) audit path for leaf `index` in the tree over `leaves`.

    Ordered from the leaf's sibling upwards; empty for a one-leaf tree. Raises
    ValueError when index is not in [0, len(leaves)). Costs one tree build
    (linear); callers proving many leaves of one tree should batch by seal.
    """
    size = len(leaves)
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    level = _leaf_level(leaves)
    node = index
    while len(level) > 1:
        sibling = node ^ 1
        # No right sibling means this node moves up unchanged (see _next_level),
        # so the RFC path has no element for this level.
        if sibling < len(level):
            path.append(level[sibling])
        level = _next_level(level)
        node >>= 1
    return path


def root_from_inclusion_proof(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that `proof` implies for `leaf` at `index`, or None if malformed.

    RFC 9162 section 2.1.3.2, steps 1 to 4 (fn, sn and r are the RFC's names).
    None means the proof cannot belong to any tree of `tree_size` leaves: index
    out of range, too many or too few elements, or an element that is not a
    32-byte hash.
    """
    if not 0 <= index < tree_size:
        return None
    if any(len(p) != HASH_SIZE for p in proof):
        return None
    fn = index
    sn = tree_size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            return None  # proof longer than the path to the root
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # If fn was the last node of its level with no right sibling, it
            # moved up unchanged: climb until it is a right child or fn is 0.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None  # proof shorter than the path to the root
    return r


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """True when `proof` shows leaf input `leaf` at `index` in the tree with `root`.

    RFC 9162 section 2.1.3.2. `leaf` is the leaf input (hashed here as a leaf,
    as `root` and `inclusion_proof` do). Never raises on bad input: any
    malformed proof, index, size or root simply fails.
    """
    computed = root_from_inclusion_proof(leaf, index, tree_size, proof)
    return computed is not None and computed == root


class Frontier:
    """The RFC 6962 root of a growing list of leaves, kept in O(log n) hashes.

    Holds the roots of the perfect subtrees that make up the leaves so far
    (a "compact range", as in transparency-dev/merkle), largest first. The
    processor seals a chain every N records without keeping N hashes in its
    state: a few hundred bytes survive a restart instead.

    root() equals merkle.root() of the same leaves: RFC 6962 splits n leaves
    at the largest power of two below n, which is exactly folding the perfect
    subtrees from the right.
    """

    __slots__ = ("count", "_nodes")

    def __init__(self, count: int = 0, nodes: Sequence[tuple[int, bytes]] = ()) -> None:
        self.count = count
        self._nodes: list[tuple[int, bytes]] = list(nodes)  # (height, subtree root), heights decreasing
        if sum(1 << height for height, _ in self._nodes) != count:
            raise ValueError(f"frontier of {len(self._nodes)} subtrees does not hold {count} leaves")

    def append(self, data: bytes) -> None:
        """Add the next leaf input (the leaf hash is applied here)."""
        node = (0, leaf_hash(data))
        while self._nodes and self._nodes[-1][0] == node[0]:
            height, left = self._nodes.pop()
            node = (height + 1, node_hash(left, node[1]))
        self._nodes.append(node)
        self.count += 1

    def root(self) -> bytes:
        if not self._nodes:
            return root(())
        acc = self._nodes[-1][1]
        for _, left in reversed(self._nodes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def nodes(self) -> list[tuple[int, bytes]]:
        """(height, hash) of each perfect subtree, largest first: the persisted form."""
        return list(self._nodes)
