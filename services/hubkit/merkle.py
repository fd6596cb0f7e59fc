"""RFC 9162 Merkle tree hashing and proof verification, shared by the audit log (which
builds the tree and serves proofs, `services.audit.domain.merkle`), the witness a partner
agency runs (which only checks that each checkpoint extends the last, `services.witness`) and
the offline verifier of a receipt (C2SP tlog-proof, `services.hubkit.tlog_proof`).

Pure functions over bytes: no I/O, no clock. Each cites the RFC 9162 section it implements
(RFC 6962 §2.1, which C2SP tlog-witness names, defines the same hashes and proofs).
"""

from __future__ import annotations

import hashlib
import hmac

from services.hubkit.errors import ConsistencyUnproven, InclusionUnproven

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_path",
    "verify_consistency_path",
    "verify_inclusion_path",
]

HASH_SIZE = 32
# RFC 9162 §2.1.1: MTH({}) = HASH(), the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

# Domain separation between leaves and interior nodes (RFC 9162 §2.1.1), so a leaf can never
# be passed off as a node (second-preimage attack on the tree).
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0))."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _require_hash(
    value: bytes,
    what: str,
    error: type[ConsistencyUnproven | InclusionUnproven] = ConsistencyUnproven,
) -> None:
    if len(value) != HASH_SIZE:
        raise error(f"{what} is {len(value)} bytes, not a {HASH_SIZE}-byte SHA-256 hash")


def verify_consistency_path(
    *, old_size: int, new_size: int, path: tuple[bytes, ...], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 §2.1.4.2: prove the tree with `new_root` is an append-only extension of the tree
    with `old_root`. Raises ConsistencyUnproven with the reason when it is not.

    Outside the RFC's 0 < first < second: equal sizes need equal roots and an empty path, and
    only the empty tree (root SHA-256("")) is consistent with everything, again with an empty path.
    """
    first, second = old_size, new_size
    _require_hash(old_root, "the old root hash")
    _require_hash(new_root, "the new root hash")
    for i, c in enumerate(path):
        _require_hash(c, f"consistency path element {i}")
    if not 0 <= first <= second:
        raise ConsistencyUnproven(
            f"cannot prove size {second} extends size {first}: an append-only log never shrinks"
        )
    if first == second or first == 0:
        if path:
            raise ConsistencyUnproven(
                f"a proof from size {first} to size {second} must be empty, "
                f"this one has {len(path)} elements"
            )
        expected = new_root if first == second else EMPTY_ROOT
        if not hmac.compare_digest(old_root, expected):
            raise ConsistencyUnproven(
                f"old root {old_root.hex()} at size {first} cannot precede new root "
                f"{new_root.hex()} at size {second}"
            )
        return

    # 1. An empty path proves nothing.
    if not path:
        raise ConsistencyUnproven(
            f"the proof from size {first} to size {second} is empty; ask the log for a fresh one"
        )
    nodes = list(path)
    # 2. If first is an exact power of two, the old root is itself a node of the new tree.
    if first & (first - 1) == 0:
        nodes.insert(0, old_root)
    # 3.
    fn = first - 1
    sn = second - 1
    # 4. Climb past the levels where the old tree's last leaf is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = nodes[0]
    # 6.
    for c in nodes[1:]:
        # a.
        if sn == 0:
            raise ConsistencyUnproven(
                f"consistency path has {len(path)} elements, more than sizes "
                f"{first} -> {second} need"
            )
        # b. c is a left sibling: it is part of both trees.
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            # iii.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        # Otherwise c is a right sibling: it is only in the new tree.
        else:
            sr = node_hash(sr, c)
        # c.
        fn >>= 1
        sn >>= 1
    # 7.
    if sn != 0:
        raise ConsistencyUnproven(
            f"consistency path has {len(path)} elements, fewer than sizes {first} -> {second} need"
        )
    if not hmac.compare_digest(fr, old_root):
        raise ConsistencyUnproven(
            f"the proof rebuilds old root {fr.hex()} for size {first}, not {old_root.hex()}: "
            "the old checkpoint is not a prefix of the new tree"
        )
    if not hmac.compare_digest(sr, new_root):
        raise ConsistencyUnproven(
            f"the proof rebuilds new root {sr.hex()} for size {second}, not {new_root.hex()}: "
            "the new tree does not extend the old one"
        )


def root_from_inclusion_path(
    *, leaf_index: int, tree_size: int, path: tuple[bytes, ...], leaf_hash: bytes
) -> bytes:
    """RFC 9162 §2.1.3.2 steps 1-4: the root an audit path implies for a leaf hash.

    Raises InclusionUnproven if the path cannot belong to (leaf_index, tree_size).
    """
    _require_hash(leaf_hash, "the leaf hash", InclusionUnproven)
    for i, p in enumerate(path):
        _require_hash(p, f"inclusion path element {i}", InclusionUnproven)
    # 1. leaf_index must be inside the tree.
    if not 0 <= leaf_index < tree_size:
        raise InclusionUnproven(f"leaf index {leaf_index} is outside a tree of size {tree_size}")
    # 2. fn = leaf_index, sn = tree_size - 1.
    fn = leaf_index
    sn = tree_size - 1
    # 3. r = hash.
    r = leaf_hash
    # 4. For each p in inclusion_path:
    for p in path:
        # a. A path longer than the tree is deep cannot be right.
        if sn == 0:
            raise InclusionUnproven(
                f"inclusion path has {len(path)} elements, more than a tree of size "
                f"{tree_size} needs for leaf {leaf_index}"
            )
        # b. p is a left sibling when fn is a right child, or fn is the last node of its level.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # ii. Skip the levels where this node had no right sibling.
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        # c.
        fn >>= 1
        sn >>= 1
    # 5 (first half): the path must reach the root.
    if sn != 0:
        raise InclusionUnproven(
            f"inclusion path has {len(path)} elements, fewer than a tree of size "
            f"{tree_size} needs for leaf {leaf_index}"
        )
    return r


def verify_inclusion_path(
    *,
    leaf_index: int,
    tree_size: int,
    path: tuple[bytes, ...],
    leaf_hash: bytes,
    root_hash: bytes,
) -> None:
    """RFC 9162 §2.1.3.2: prove the leaf is at `leaf_index` in the tree of `tree_size` leaves
    with `root_hash`. Raises InclusionUnproven with the reason when it is not."""
    _require_hash(root_hash, "the root hash", InclusionUnproven)
    computed = root_from_inclusion_path(
        leaf_index=leaf_index, tree_size=tree_size, path=path, leaf_hash=leaf_hash
    )
    # 5 (second half): r must equal root_hash.
    if not hmac.compare_digest(computed, root_hash):
        raise InclusionUnproven(
            f"leaf {leaf_index} with this audit path gives root {computed.hex()}, not "
            f"{root_hash.hex()} for tree size {tree_size}: the record, its index or the "
            "proof does not match the checkpoint"
        )
