"""The Merkle tree of the audit log, as defined by RFC 9162 (Certificate Transparency 2.0) §2.1.

Pure functions over bytes: no I/O, no clock. Three parts:

- hashing: `leaf_hash`, `node_hash`, `merkle_tree_hash` (§2.1.1);
- proofs: `inclusion_proof` (§2.1.3.1) and `consistency_proof` (§2.1.4.1) are generated from a
  `SubtreeHashes` reader, so a storage-backed log never loads all its leaves; they are checked
  by `verify_inclusion` (§2.1.3.2) and `verify_consistency` (§2.1.4.2), which follow the RFC's
  algorithms step by step;
- appending: `CompactRange` keeps the O(log n) right edge of perfect subtrees, so the indexer
  gets the root after each append in O(log n) and can persist every perfect subtree it completes.

Addressing: the perfect subtree at (level, index) is the root of leaves
[index * 2**level, (index + 1) * 2**level); level 0 holds the leaf hashes. Perfect subtrees never
change once complete, so a store may keep them forever and serve proofs for any older tree size.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from services.audit.domain.errors import (
    AuditError,
    ConsistencyProofInvalid,
    InclusionProofInvalid,
    ProofRequestInvalid,
)
from services.hubkit.errors import ConsistencyUnproven, InclusionUnproven
from services.hubkit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    leaf_hash,
    node_hash,
    root_from_inclusion_path,
    verify_consistency_path,
)

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "ConsistencyProof",
    "InclusionProof",
    "LeafHashSubtrees",
    "LeafHashes",
    "SubtreeHashes",
    "SubtreeNode",
    "consistency_proof",
    "inclusion_proof",
    "is_consistent",
    "is_included",
    "leaf_hash",
    "merkle_tree_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

# Hashing (RFC 9162 §2.1.1) and consistency checking are shared with the witness, in
# services.hubkit.merkle; re-exported here so the audit log's callers are unchanged.


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1): the `k` of RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def merkle_tree_hash(entries: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1: the Merkle Tree Hash MTH(D[n]) of a list of entries (not leaf hashes).

    A direct transcription of the definition, kept as the reference the faster paths
    (`CompactRange`, stored subtrees) are checked against.
    """
    n = len(entries)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(entries[0])
    k = _split(n)
    return node_hash(merkle_tree_hash(entries[:k]), merkle_tree_hash(entries[k:]))


# ---------------------------------------------------------------------------------------------
# Reading the tree


class LeafHashes(Protocol):
    """Random access to a log's leaf hashes, e.g. a list or a storage-backed accessor."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> bytes: ...


class SubtreeHashes(Protocol):
    """Read access to perfect subtree hashes: (level, index) covers leaves
    [index * 2**level, (index + 1) * 2**level). Proof generation only asks for subtrees that lie
    wholly inside the requested tree size."""

    def subtree_hash(self, level: int, index: int) -> bytes: ...


@dataclass(frozen=True, slots=True)
class LeafHashSubtrees:
    """`SubtreeHashes` computed on demand from leaf hashes alone.

    Costs O(2**level) hashes per subtree, so a proof costs O(n): right for small logs and tests.
    A large log should store the `SubtreeNode`s that `CompactRange.append_with_nodes` reports
    and serve them directly, which makes each proof O(log n) lookups.
    """

    leaf_hashes: LeafHashes

    def subtree_hash(self, level: int, index: int) -> bytes:
        start = index << level
        layer = [self.leaf_hashes[i] for i in range(start, start + (1 << level))]
        while len(layer) > 1:
            layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
        return layer[0]


def _fold_right(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect subtrees, largest (leftmost) first, into the root of their concatenation.

    The right edge of an RFC 9162 tree nests to the right: MTH = node(p0, node(p1, ... pk)).
    """
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _range_hash(subtrees: SubtreeHashes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a node of the RFC 9162 tree, from its perfect subtrees.

    Every range the §2.1.3.1 / §2.1.4.1 recursions name starts at a multiple of the largest
    power of two not above its size, so it splits into aligned perfect subtrees by the binary
    digits of its size.
    """
    parts: list[bytes] = []
    while start < end:
        level = (end - start).bit_length() - 1
        parts.append(subtrees.subtree_hash(level, start >> level))
        start += 1 << level
    return _fold_right(parts)


# ---------------------------------------------------------------------------------------------
# Inclusion proofs


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An audit path (RFC 9162 §2.1.3): sibling hashes from the leaf up to the root."""

    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]


def inclusion_proof(subtrees: SubtreeHashes, *, leaf_index: int, tree_size: int) -> InclusionProof:
    """RFC 9162 §2.1.3.1: PATH(m, D[n]) for leaf m of the tree of the first n leaves."""
    if not 0 <= leaf_index < tree_size:
        raise ProofRequestInvalid(
            f"no leaf {leaf_index} in a tree of size {tree_size}; "
            "ask for an index below the tree size of a checkpoint you hold"
        )
    return InclusionProof(
        leaf_index=leaf_index,
        tree_size=tree_size,
        path=tuple(_path(subtrees, leaf_index, 0, tree_size)),
    )


def _path(subtrees: SubtreeHashes, m: int, start: int, end: int) -> list[bytes]:
    # PATH(m, D[start:end]) with m relative to start; recursion depth is at most log2(n).
    n = end - start
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*_path(subtrees, m, start, start + k), _range_hash(subtrees, start + k, end)]
    return [*_path(subtrees, m - k, start + k, end), _range_hash(subtrees, start, start + k)]


def _require_hash(value: bytes, what: str, error: type[AuditError]) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} is {len(value)} bytes, not a {HASH_SIZE}-byte SHA-256 hash")


def root_from_inclusion_proof(proof: InclusionProof, *, leaf_hash: bytes) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-4: the root an audit path implies for a leaf hash (the
    algorithm is `services.hubkit.merkle.root_from_inclusion_path`, shared with the offline
    receipt verifier).

    Raises InclusionProofInvalid if the path cannot belong to (leaf_index, tree_size).
    """
    try:
        return root_from_inclusion_path(
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            path=proof.path,
            leaf_hash=leaf_hash,
        )
    except InclusionUnproven as error:
        raise InclusionProofInvalid(error.reason) from error


def verify_inclusion(proof: InclusionProof, *, leaf_hash: bytes, root_hash: bytes) -> None:
    """RFC 9162 §2.1.3.2: prove the leaf is at `proof.leaf_index` in the tree with `root_hash`.

    Raises InclusionProofInvalid with the reason when it is not.
    """
    _require_hash(root_hash, "the root hash", InclusionProofInvalid)
    computed = root_from_inclusion_proof(proof, leaf_hash=leaf_hash)
    # 5 (second half): r must equal root_hash.
    if not hmac.compare_digest(computed, root_hash):
        raise InclusionProofInvalid(
            f"leaf {proof.leaf_index} with this audit path gives root {computed.hex()}, not "
            f"{root_hash.hex()} for tree size {proof.tree_size}: the record, its index or the "
            "proof does not match the checkpoint"
        )


def is_included(proof: InclusionProof, *, leaf_hash: bytes, root_hash: bytes) -> bool:
    """Boolean form of `verify_inclusion`."""
    try:
        verify_inclusion(proof, leaf_hash=leaf_hash, root_hash=root_hash)
    except InclusionProofInvalid:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Consistency proofs


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """Proof that the tree of `new_size` leaves extends the tree of `old_size` (RFC 9162 §2.1.4)."""

    old_size: int
    new_size: int
    path: tuple[bytes, ...]


def consistency_proof(subtrees: SubtreeHashes, *, old_size: int, new_size: int) -> ConsistencyProof:
    """RFC 9162 §2.1.4.1: PROOF(m, D[n]) = SUBPROOF(m, D[n], true).

    The RFC defines it for 0 < m < n; for m == 0 and m == n there is nothing to prove and the
    path is empty (what `verify_consistency` expects).
    """
    if not 0 <= old_size <= new_size:
        raise ProofRequestInvalid(
            f"no consistency proof from size {old_size} to size {new_size}; "
            "the old size must be between 0 and the new size"
        )
    if old_size in (0, new_size):
        return ConsistencyProof(old_size=old_size, new_size=new_size, path=())
    return ConsistencyProof(
        old_size=old_size,
        new_size=new_size,
        path=tuple(_subproof(subtrees, old_size, 0, new_size, complete=True)),
    )


def _subproof(
    subtrees: SubtreeHashes, m: int, start: int, end: int, *, complete: bool
) -> list[bytes]:
    # SUBPROOF(m, D[start:end], b) with m relative to start; `complete` is the RFC's `b`: the
    # subtree so far is exactly the old tree, whose root the verifier already has.
    n = end - start
    if m == n:
        return [] if complete else [_range_hash(subtrees, start, end)]
    k = _split(n)
    if m <= k:
        return [
            *_subproof(subtrees, m, start, start + k, complete=complete),
            _range_hash(subtrees, start + k, end),
        ]
    return [
        *_subproof(subtrees, m - k, start + k, end, complete=False),
        _range_hash(subtrees, start, start + k),
    ]


def verify_consistency(proof: ConsistencyProof, *, old_root: bytes, new_root: bytes) -> None:
    """RFC 9162 §2.1.4.2: prove the tree with `new_root` is an append-only extension of the tree
    with `old_root`. Raises ConsistencyProofInvalid with the reason when it is not.

    The algorithm lives in `services.hubkit.merkle` (the witness checks proofs too); this keeps
    the audit log's error tree: its failure is an `AuditError` with the same reason.
    """
    try:
        verify_consistency_path(
            old_size=proof.old_size,
            new_size=proof.new_size,
            path=proof.path,
            old_root=old_root,
            new_root=new_root,
        )
    except ConsistencyUnproven as error:
        raise ConsistencyProofInvalid(error.reason) from error


def is_consistent(proof: ConsistencyProof, *, old_root: bytes, new_root: bytes) -> bool:
    """Boolean form of `verify_consistency`."""
    try:
        verify_consistency(proof, old_root=old_root, new_root=new_root)
    except ConsistencyProofInvalid:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Appending


@dataclass(frozen=True, slots=True)
class SubtreeNode:
    """A perfect subtree completed by an append: store it to serve proofs without rehashing."""

    level: int
    index: int
    hash: bytes


@dataclass(frozen=True, slots=True)
class CompactRange:
    """The right edge of a tree of `size` leaves: one perfect subtree per set bit of `size`,
    largest (leftmost) first. O(log n) state, O(log n) per append and per root.

    Immutable: `append` returns the next range, so a failed write leaves the old one valid.
    """

    size: int = 0
    hashes: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if self.size < 0 or self.size.bit_count() != len(self.hashes):
            raise ValueError(
                f"a compact range of size {self.size} holds {self.size.bit_count()} subtree "
                f"hashes, not {len(self.hashes)}"
            )

    @staticmethod
    def from_subtrees(subtrees: SubtreeHashes, size: int) -> CompactRange:
        """Resume appending at `size` from stored subtrees (O(log n) reads), e.g. on restart."""
        if size < 0:
            raise ValueError(f"tree size {size} is negative")
        hashes: list[bytes] = []
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                hashes.append(subtrees.subtree_hash(level, start >> level))
                start += 1 << level
        return CompactRange(size=size, hashes=tuple(hashes))

    def root(self) -> bytes:
        """MTH of the first `size` leaves (RFC 9162 §2.1.1)."""
        return _fold_right(self.hashes) if self.hashes else EMPTY_ROOT

    def append(self, leaf_hash: bytes) -> CompactRange:
        """The range after appending one leaf hash."""
        return self._append(leaf_hash, None)

    def append_with_nodes(self, leaf_hash: bytes) -> tuple[CompactRange, tuple[SubtreeNode, ...]]:
        """`append`, plus the perfect subtrees the append completed, leaf (level 0) first."""
        completed: list[SubtreeNode] = []
        return self._append(leaf_hash, completed), tuple(completed)

    def extend(self, leaf_hashes: Iterable[bytes]) -> CompactRange:
        """The range after appending many leaf hashes in order."""
        result = self
        for h in leaf_hashes:
            result = result._append(h, None)
        return result

    def _append(self, leaf_hash: bytes, completed: list[SubtreeNode] | None) -> CompactRange:
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
        index = self.size
        hashes = list(self.hashes)
        current = leaf_hash
        level = 0
        if completed is not None:
            completed.append(SubtreeNode(0, index, current))
        # Each trailing 1-bit of the index is a left sibling waiting for this subtree.
        while index >> level & 1:
            current = node_hash(hashes.pop(), current)
            level += 1
            if completed is not None:
                completed.append(SubtreeNode(level, index >> level, current))
        hashes.append(current)
        return CompactRange(size=index + 1, hashes=tuple(hashes))
