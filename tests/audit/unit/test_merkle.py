"""RFC 9162 Merkle tree: known answers, the Certificate Transparency test vectors, and properties.

Vectors: the 8-leaf corpus, roots, inclusion and consistency paths shared by the Certificate
Transparency implementations (transparency-dev/merkle proof/verify_test.go and
testonly/constants.go, originally from the C++ CT log's merkle tree tests).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.domain.errors import (
    ConsistencyProofInvalid,
    InclusionProofInvalid,
    ProofRequestInvalid,
)
from services.audit.domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ConsistencyProof,
    InclusionProof,
    LeafHashSubtrees,
    consistency_proof,
    inclusion_proof,
    is_consistent,
    is_included,
    leaf_hash,
    merkle_tree_hash,
    node_hash,
    root_from_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


# --- Certificate Transparency test vectors ---------------------------------------------------

CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]

# CT_ROOTS[n] is the root of the first n leaves.
CT_ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# (leaf_index, tree_size, path); the Go suite numbers leaves from 1, these from 0.
CT_INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# (old_size, new_size, path)
CT_CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- Independent references, straight from the RFC 9162 §2.1 definitions ----------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth_by_hand(entries: Sequence[bytes]) -> bytes:
    """MTH(D[n]) written out from RFC 9162 §2.1.1 with hashlib, independent of the module."""
    if not entries:
        return sha256(b"")
    if len(entries) == 1:
        return sha256(b"\x00" + entries[0])
    k = 1
    while k * 2 < len(entries):
        k *= 2
    return sha256(b"\x01" + mth_by_hand(entries[:k]) + mth_by_hand(entries[k:]))


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def inclusion_shape(m: int, n: int) -> tuple[str, ...]:
    """Which side each sibling of PATH(m, D[n]) (RFC 9162 §2.1.3.1) is on, leaf to root.

    Two (index, size) pairs with the same shape make the verifier do the same hashing, so a
    proof for one also verifies as the other: the proof alone cannot tell them apart (the
    signed checkpoint binds the size).
    """
    if n == 1:
        return ()
    k = largest_power_of_two_below(n)
    if m < k:
        return (*inclusion_shape(m, k), "right")
    return (*inclusion_shape(m - k, n - k), "left")


def consistency_shape(m: int, n: int, complete: bool = True) -> tuple[bool, tuple[str, ...]]:
    """The verifier-visible shape of SUBPROOF(m, D[n], b) (RFC 9162 §2.1.4.1): whether the
    old root seeds the computation, and the side of each following element."""
    if m == n:
        return complete, ()
    k = largest_power_of_two_below(n)
    if m <= k:
        seeded, sides = consistency_shape(m, k, complete)
        return seeded, (*sides, "right")
    seeded, sides = consistency_shape(m - k, n - k, False)
    return seeded, (*sides, "left")


# --- A storage fake: perfect subtrees as the appender reports them ----------------------------


class StoredSubtrees:
    """What a storage adapter does: keep every perfect subtree `append_with_nodes` reports."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.reads = 0

    def subtree_hash(self, level: int, index: int) -> bytes:
        self.reads += 1
        return self.nodes[(level, index)]  # KeyError: asked for a subtree outside the tree


def build_log(entries: Sequence[bytes]) -> tuple[StoredSubtrees, list[bytes]]:
    """Append every entry; return the stored subtrees and the root at every size 0..n."""
    store = StoredSubtrees()
    compact = CompactRange()
    roots = [compact.root()]
    for entry in entries:
        compact, completed = compact.append_with_nodes(leaf_hash(entry))
        for node in completed:
            assert (node.level, node.index) not in store.nodes, "a subtree completed twice"
            store.nodes[(node.level, node.index)] = node.hash
        roots.append(compact.root())
    return store, roots


def flip_bit(value: bytes, bit: int) -> bytes:
    flipped = bytearray(value)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def every_bit_flip(value: bytes) -> list[bytes]:
    return [flip_bit(value, bit) for bit in range(len(value) * 8)]


# --- Known answers ----------------------------------------------------------------------------


def test_empty_tree_is_the_hash_of_the_empty_string() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert merkle_tree_hash([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT


def test_leaf_and_node_hashes_use_the_domain_separation_prefixes() -> None:
    assert leaf_hash(b"record") == sha256(b"\x00record")
    assert node_hash(b"L" * 32, b"R" * 32) == sha256(b"\x01" + b"L" * 32 + b"R" * 32)
    # A leaf whose content looks like two child hashes still hashes differently from the node.
    assert leaf_hash(b"L" * 32 + b"R" * 32) != node_hash(b"L" * 32, b"R" * 32)


def test_small_trees_computed_by_hand() -> None:
    a, b, c = b"alpha", b"bravo", b"charlie"
    ha, hb, hc = (sha256(b"\x00" + x) for x in (a, b, c))
    assert merkle_tree_hash([a]) == ha
    assert merkle_tree_hash([a, b]) == sha256(b"\x01" + ha + hb)
    # Three leaves: the left subtree is the largest power of two below 3, i.e. two leaves.
    assert merkle_tree_hash([a, b, c]) == sha256(b"\x01" + sha256(b"\x01" + ha + hb) + hc)


@pytest.mark.parametrize("size", range(9))
def test_ct_roots(size: int) -> None:
    entries = CT_LEAVES[:size]
    hashes = [leaf_hash(e) for e in entries]
    assert merkle_tree_hash(entries) == CT_ROOTS[size]
    assert mth_by_hand(entries) == CT_ROOTS[size]
    assert CompactRange().extend(hashes).root() == CT_ROOTS[size]
    store, roots = build_log(CT_LEAVES)
    assert roots[size] == CT_ROOTS[size]
    assert CompactRange.from_subtrees(store, size).root() == CT_ROOTS[size]


@pytest.mark.parametrize(("leaf_index", "tree_size", "path"), CT_INCLUSION)
def test_ct_inclusion_vectors(leaf_index: int, tree_size: int, path: list[bytes]) -> None:
    expected = InclusionProof(leaf_index=leaf_index, tree_size=tree_size, path=tuple(path))
    hashes = [leaf_hash(e) for e in CT_LEAVES]
    store, _ = build_log(CT_LEAVES)
    for subtrees in (LeafHashSubtrees(hashes), LeafHashSubtrees(hashes[:tree_size]), store):
        assert inclusion_proof(subtrees, leaf_index=leaf_index, tree_size=tree_size) == expected
    leaf = hashes[leaf_index]
    verify_inclusion(expected, leaf_hash=leaf, root_hash=CT_ROOTS[tree_size])
    assert root_from_inclusion_proof(expected, leaf_hash=leaf) == CT_ROOTS[tree_size]


@pytest.mark.parametrize(("old_size", "new_size", "path"), CT_CONSISTENCY)
def test_ct_consistency_vectors(old_size: int, new_size: int, path: list[bytes]) -> None:
    expected = ConsistencyProof(old_size=old_size, new_size=new_size, path=tuple(path))
    hashes = [leaf_hash(e) for e in CT_LEAVES]
    store, _ = build_log(CT_LEAVES)
    for subtrees in (LeafHashSubtrees(hashes), store):
        assert consistency_proof(subtrees, old_size=old_size, new_size=new_size) == expected
    verify_consistency(expected, old_root=CT_ROOTS[old_size], new_root=CT_ROOTS[new_size])


def corrupted_inclusion_probes(
    proof: InclusionProof, leaf: bytes, root: bytes
) -> list[tuple[str, InclusionProof, bytes, bytes]]:
    """The corruptions transparency-dev/merkle's verifierCheck tries, plus a few more."""
    i, n, path = proof.leaf_index, proof.tree_size, proof.path

    def at(index: int, size: int, p: Sequence[bytes] = path) -> InclusionProof:
        return InclusionProof(leaf_index=index, tree_size=size, path=tuple(p))

    probes = [
        ("index - 1", at(i - 1, n), leaf, root),
        ("index + 1", at(i + 1, n), leaf, root),
        ("index ^ 2", at(i ^ 2, n), leaf, root),
        ("size * 2", at(i, n * 2), leaf, root),
        ("size / 2", at(i, n // 2), leaf, root),
        ("wrong leaf", proof, leaf_hash(b"WrongLeaf"), root),
        ("empty root", proof, leaf, EMPTY_ROOT),
        ("random root", proof, leaf, SOME_HASH),
        ("short leaf", proof, leaf[:-1], root),
        ("short root", proof, leaf, root[:-1]),
        ("trailing garbage", at(i, n, [*path, b""]), leaf, root),
        ("trailing root", at(i, n, [*path, root]), leaf, root),
        ("preceding garbage", at(i, n, [b"", *path]), leaf, root),
        ("preceding root", at(i, n, [root, *path]), leaf, root),
    ]
    for k in range(len(path)):
        probes.append(
            (
                f"proof[{k}] bit 3",
                at(i, n, [*path[:k], flip_bit(path[k], 3), *path[k + 1 :]]),
                leaf,
                root,
            )
        )
    if path:
        probes.append(("removed component", at(i, n, path[:-1]), leaf, root))
    if len(path) > 1:
        probes.append(("inserted component", at(i, n, [path[0], SOME_HASH, *path[1:]]), leaf, root))
    return probes


@pytest.mark.parametrize(("leaf_index", "tree_size", "path"), CT_INCLUSION)
def test_ct_inclusion_vectors_reject_corruptions(
    leaf_index: int, tree_size: int, path: list[bytes]
) -> None:
    proof = InclusionProof(leaf_index=leaf_index, tree_size=tree_size, path=tuple(path))
    leaf, root = leaf_hash(CT_LEAVES[leaf_index]), CT_ROOTS[tree_size]
    accepted = [
        desc
        for desc, p, lh, r in corrupted_inclusion_probes(proof, leaf, root)
        if is_included(p, leaf_hash=lh, root_hash=r)
        # Same-shaped (index, size) pairs are legitimately indistinguishable to the proof.
        and not (
            0 <= p.leaf_index < p.tree_size
            and (lh, r) == (leaf, root)
            and p.path == proof.path
            and inclusion_shape(p.leaf_index, p.tree_size) == inclusion_shape(leaf_index, tree_size)
        )
    ]
    assert accepted == []


def corrupted_consistency_probes(
    proof: ConsistencyProof, old: bytes, new: bytes
) -> list[tuple[str, ConsistencyProof, bytes, bytes]]:
    m, n, path = proof.old_size, proof.new_size, proof.path

    def at(old_size: int, new_size: int, p: Sequence[bytes] = path) -> ConsistencyProof:
        return ConsistencyProof(old_size=old_size, new_size=new_size, path=tuple(p))

    probes = [
        ("old size - 1", at(m - 1, n), old, new),
        ("old size + 1", at(m + 1, n), old, new),
        ("old size ^ 2", at(m ^ 2, n), old, new),
        ("new size * 2", at(m, n * 2), old, new),
        ("new size / 2", at(m, n // 2), old, new),
        ("wrong old root", proof, SOME_HASH, new),
        ("wrong new root", proof, old, SOME_HASH),
        ("swapped roots", proof, new, old),
        ("empty proof", at(m, n, []), old, new),
        ("trailing garbage", at(m, n, [*path, b""]), old, new),
        ("trailing old root", at(m, n, [*path, old]), old, new),
        ("trailing new root", at(m, n, [*path, new]), old, new),
        ("preceding garbage", at(m, n, [b"", *path]), old, new),
        ("preceding old root", at(m, n, [old, *path]), old, new),
        ("preceding new root", at(m, n, [new, *path]), old, new),
        ("preceding proof[0]", at(m, n, [path[0], *path]), old, new),
        ("truncated proof", at(m, n, path[:-1]), old, new),
    ]
    for k in range(len(path)):
        flipped = [*path[:k], flip_bit(path[k], 4), *path[k + 1 :]]
        probes.append((f"proof[{k}] bit 4", at(m, n, flipped), old, new))
    return probes


@pytest.mark.parametrize(("old_size", "new_size", "path"), [v for v in CT_CONSISTENCY if v[2]])
def test_ct_consistency_vectors_reject_corruptions(
    old_size: int, new_size: int, path: list[bytes]
) -> None:
    proof = ConsistencyProof(old_size=old_size, new_size=new_size, path=tuple(path))
    old, new = CT_ROOTS[old_size], CT_ROOTS[new_size]
    accepted = [
        desc
        for desc, p, o, n in corrupted_consistency_probes(proof, old, new)
        if is_consistent(p, old_root=o, new_root=n)
        and not (
            0 < p.old_size < p.new_size
            and (o, n, p.path) == (old, new, proof.path)
            and consistency_shape(p.old_size, p.new_size) == consistency_shape(old_size, new_size)
        )
    ]
    assert accepted == []


def test_inclusion_in_a_single_leaf_tree() -> None:
    leaf = leaf_hash(b"data")
    proof = InclusionProof(leaf_index=0, tree_size=1, path=())
    verify_inclusion(proof, leaf_hash=leaf, root_hash=leaf)
    assert not is_included(proof, leaf_hash=leaf, root_hash=EMPTY_ROOT)
    assert not is_included(proof, leaf_hash=b"", root_hash=leaf)
    assert not is_included(proof, leaf_hash=b"", root_hash=b"")


@pytest.mark.parametrize(("leaf_index", "tree_size"), [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1)])
def test_inclusion_outside_the_tree_fails(leaf_index: int, tree_size: int) -> None:
    proof = InclusionProof(leaf_index=leaf_index, tree_size=tree_size, path=())
    with pytest.raises(InclusionProofInvalid, match="outside a tree"):
        verify_inclusion(proof, leaf_hash=SOME_HASH, root_hash=EMPTY_ROOT)


def test_inclusion_failure_says_why() -> None:
    hashes = [leaf_hash(e) for e in CT_LEAVES]
    proof = inclusion_proof(LeafHashSubtrees(hashes), leaf_index=3, tree_size=8)
    with pytest.raises(InclusionProofInvalid, match="does not match the checkpoint"):
        verify_inclusion(proof, leaf_hash=hashes[4], root_hash=CT_ROOTS[8])
    with pytest.raises(InclusionProofInvalid, match="fewer than"):
        verify_inclusion(
            InclusionProof(leaf_index=3, tree_size=8, path=proof.path[:-1]),
            leaf_hash=hashes[3],
            root_hash=CT_ROOTS[8],
        )
    with pytest.raises(InclusionProofInvalid, match="more than"):
        verify_inclusion(
            InclusionProof(leaf_index=3, tree_size=8, path=(*proof.path, SOME_HASH)),
            leaf_hash=hashes[3],
            root_hash=CT_ROOTS[8],
        )


ROOT1, ROOT2 = leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2")


@pytest.mark.parametrize(
    ("old_size", "new_size", "old_root", "new_root", "path", "valid"),
    [
        # Equal sizes: equal roots, empty path.
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (1, 1, ROOT2, ROOT2, [], True),
        (1, 1, ROOT1, ROOT2, [], False),
        (1, 1, EMPTY_ROOT, ROOT2, [], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        # The empty tree precedes every tree, but only with its own root and an empty path.
        (0, 1, EMPTY_ROOT, ROOT2, [], True),
        (0, 1, ROOT1, ROOT2, [], False),
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        # Time travel to the past.
        (1, 0, ROOT1, ROOT2, [], False),
        (2, 1, ROOT1, ROOT2, [], False),
        (-1, 1, ROOT1, ROOT2, [], False),
        # Growth needs a proof.
        (1, 2, ROOT1, ROOT2, [], False),
    ],
)
def test_consistency_edge_cases(
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    path: list[bytes],
    valid: bool,
) -> None:
    proof = ConsistencyProof(old_size=old_size, new_size=new_size, path=tuple(path))
    assert is_consistent(proof, old_root=old_root, new_root=new_root) is valid


def test_consistency_failure_says_why() -> None:
    proof = ConsistencyProof(old_size=6, new_size=8, path=tuple(CT_CONSISTENCY[2][2]))
    with pytest.raises(ConsistencyProofInvalid, match="old checkpoint is not a prefix"):
        verify_consistency(proof, old_root=CT_ROOTS[5], new_root=CT_ROOTS[8])
    with pytest.raises(ConsistencyProofInvalid, match="does not extend"):
        verify_consistency(proof, old_root=CT_ROOTS[6], new_root=CT_ROOTS[7])
    with pytest.raises(ConsistencyProofInvalid, match="never shrinks"):
        verify_consistency(
            ConsistencyProof(old_size=8, new_size=6, path=proof.path),
            old_root=CT_ROOTS[8],
            new_root=CT_ROOTS[6],
        )


def test_hashes_of_the_wrong_length_are_named() -> None:
    good = InclusionProof(leaf_index=2, tree_size=3, path=(CT_ROOTS[2],))
    leaf = leaf_hash(CT_LEAVES[2])
    with pytest.raises(InclusionProofInvalid, match="inclusion path element 0 is 31 bytes"):
        verify_inclusion(
            InclusionProof(leaf_index=2, tree_size=3, path=(CT_ROOTS[2][:-1],)),
            leaf_hash=leaf,
            root_hash=CT_ROOTS[3],
        )
    with pytest.raises(InclusionProofInvalid, match="root hash is 33 bytes"):
        verify_inclusion(good, leaf_hash=leaf, root_hash=CT_ROOTS[3] + b"\x00")
    bad = ConsistencyProof(old_size=2, new_size=5, path=(CT_ROOTS[2], b"\x00" * 64))
    with pytest.raises(ConsistencyProofInvalid, match="consistency path element 1 is 64 bytes"):
        verify_consistency(bad, old_root=CT_ROOTS[2], new_root=CT_ROOTS[5])


def test_proof_requests_outside_the_tree_are_refused() -> None:
    subtrees = LeafHashSubtrees([leaf_hash(e) for e in CT_LEAVES])
    for leaf_index, tree_size in [(8, 8), (-1, 8), (0, 0)]:
        with pytest.raises(ProofRequestInvalid):
            inclusion_proof(subtrees, leaf_index=leaf_index, tree_size=tree_size)
    for old_size, new_size in [(5, 4), (-1, 4)]:
        with pytest.raises(ProofRequestInvalid):
            consistency_proof(subtrees, old_size=old_size, new_size=new_size)
    # Nothing to prove: empty paths, as the verifier expects.
    assert consistency_proof(subtrees, old_size=0, new_size=8).path == ()
    assert consistency_proof(subtrees, old_size=8, new_size=8).path == ()


def test_compact_range_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError, match="holds 2 subtree hashes"):
        CompactRange(size=3, hashes=(SOME_HASH,))
    with pytest.raises(ValueError, match="not 32"):
        CompactRange().append(b"short")


def test_append_reports_every_perfect_subtree_it_completes() -> None:
    compact = CompactRange().extend(leaf_hash(e) for e in CT_LEAVES[:7])
    compact, completed = compact.append_with_nodes(leaf_hash(CT_LEAVES[7]))
    # Leaf 7 completes the pair 6-7, the quad 4-7 and the whole tree of 8.
    assert [(n.level, n.index) for n in completed] == [(0, 7), (1, 3), (2, 1), (3, 0)]
    assert completed[-1].hash == CT_ROOTS[8] == compact.root()
    assert compact.hashes == (CT_ROOTS[8],)


def test_proofs_from_stored_subtrees_read_o_log_n_nodes() -> None:
    store, roots = build_log([i.to_bytes(4, "big") for i in range(1000)])
    for leaf_index in (0, 333, 999):
        store.reads = 0
        proof = inclusion_proof(store, leaf_index=leaf_index, tree_size=1000)
        # One read per path element, plus the pieces of at most one right-edge element.
        assert store.reads <= 2 * (1000).bit_length()
        entry = leaf_index.to_bytes(4, "big")
        verify_inclusion(proof, leaf_hash=leaf_hash(entry), root_hash=roots[1000])
    store.reads = 0
    consistency_proof(store, old_size=333, new_size=1000)
    assert store.reads <= 2 * (1000).bit_length()


# --- Properties -------------------------------------------------------------------------------


@st.composite
def logs(draw: st.DrawFn, max_size: int = 300) -> list[bytes]:
    """Entries of a log with random content; distinct, because two equal records would make
    'this record is at index i' and 'at index j' the same claim."""
    size = draw(st.integers(min_value=1, max_value=max_size))
    rnd = draw(st.randoms(use_true_random=False))
    return [i.to_bytes(2, "big") + rnd.randbytes(rnd.randrange(40)) for i in range(size)]


distinct_entries = st.lists(st.binary(max_size=48), min_size=1, max_size=40, unique=True)


@settings(max_examples=40, deadline=None)
@given(entries=logs(max_size=200))
def test_appender_root_equals_batch_mth_at_every_size(entries: list[bytes]) -> None:
    store, roots = build_log(entries)
    for size in range(len(entries) + 1):
        assert roots[size] == mth_by_hand(entries[:size])
    # Resuming from storage at any size gives the same range as having appended up to it.
    compact = CompactRange()
    for size, entry in enumerate(entries):
        assert CompactRange.from_subtrees(store, size) == compact
        compact = compact.append(leaf_hash(entry))


@settings(max_examples=60, deadline=None)
@given(entries=distinct_entries)
def test_mth_matches_the_definition_for_arbitrary_entries(entries: list[bytes]) -> None:
    assert merkle_tree_hash(entries) == mth_by_hand(entries)
    assert CompactRange().extend(map(leaf_hash, entries)).root() == mth_by_hand(entries)


@settings(max_examples=30, deadline=None)
@given(entries=logs())
def test_every_inclusion_proof_verifies(entries: list[bytes]) -> None:
    store, roots = build_log(entries)
    n = len(entries)
    for i, entry in enumerate(entries):
        store.reads = 0
        proof = inclusion_proof(store, leaf_index=i, tree_size=n)
        assert store.reads <= 2 * n.bit_length()
        verify_inclusion(proof, leaf_hash=leaf_hash(entry), root_hash=roots[n])


@settings(max_examples=30, deadline=None)
@given(entries=logs(max_size=64), data=st.data())
def test_proofs_are_the_same_from_leaf_hashes_and_from_stored_subtrees(
    entries: list[bytes], data: st.DataObject
) -> None:
    store, _ = build_log(entries)
    by_leaves = LeafHashSubtrees([leaf_hash(e) for e in entries])
    n = data.draw(st.integers(min_value=1, max_value=len(entries)), label="tree size")
    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf index")
    m = data.draw(st.integers(min_value=0, max_value=n), label="old size")
    assert inclusion_proof(store, leaf_index=i, tree_size=n) == inclusion_proof(
        by_leaves, leaf_index=i, tree_size=n
    )
    assert consistency_proof(store, old_size=m, new_size=n) == consistency_proof(
        by_leaves, old_size=m, new_size=n
    )


@settings(max_examples=60, deadline=None)
@given(entries=distinct_entries, data=st.data())
def test_inclusion_for_arbitrary_entries(entries: list[bytes], data: st.DataObject) -> None:
    store, roots = build_log(entries)
    n = data.draw(st.integers(min_value=1, max_value=len(entries)), label="tree size")
    for i in range(n):
        proof = inclusion_proof(store, leaf_index=i, tree_size=n)
        assert is_included(proof, leaf_hash=leaf_hash(entries[i]), root_hash=roots[n])
        for j in range(n):
            if j != i:
                assert not is_included(proof, leaf_hash=leaf_hash(entries[j]), root_hash=roots[n])


@settings(max_examples=25, deadline=None)
@given(entries=logs(), data=st.data())
def test_any_tampering_breaks_an_inclusion_proof(entries: list[bytes], data: st.DataObject) -> None:
    store, roots = build_log(entries)
    n = data.draw(st.integers(min_value=1, max_value=len(entries)), label="tree size")
    i = data.draw(st.integers(min_value=0, max_value=n - 1), label="leaf index")
    proof = inclusion_proof(store, leaf_index=i, tree_size=n)
    leaf, root = leaf_hash(entries[i]), roots[n]
    verify_inclusion(proof, leaf_hash=leaf, root_hash=root)

    def fails(p: InclusionProof = proof, lh: bytes = leaf, r: bytes = root) -> bool:
        return not is_included(p, leaf_hash=lh, root_hash=r)

    for k, element in enumerate(proof.path):
        for flipped in every_bit_flip(element):
            path = (*proof.path[:k], flipped, *proof.path[k + 1 :])
            assert fails(InclusionProof(leaf_index=i, tree_size=n, path=path))
    assert all(fails(lh=flipped) for flipped in every_bit_flip(leaf))
    assert all(fails(r=flipped) for flipped in every_bit_flip(root))
    assert fails(lh=leaf_hash(flip_bit(entries[i], 0) if entries[i] else b"\x00"))
    # Another index: always caught.
    for j in [-1, *range(n + 2)]:
        if j != i:
            assert fails(InclusionProof(leaf_index=j, tree_size=n, path=proof.path))
    # Another size: caught unless it puts the leaf in the same place of an equally shaped
    # tree, which the proof alone cannot tell apart (check_inclusion binds the signed size).
    for size in range(0, 2 * n + 2):
        if size != n:
            same_shape = i < size and inclusion_shape(i, size) == inclusion_shape(i, n)
            assert fails(InclusionProof(leaf_index=i, tree_size=size, path=proof.path)) is not (
                same_shape
            )
    # Dropped, added or reordered elements.
    if proof.path:
        assert fails(InclusionProof(leaf_index=i, tree_size=n, path=proof.path[:-1]))
        assert fails(InclusionProof(leaf_index=i, tree_size=n, path=(*proof.path, root)))
    if len(set(proof.path)) > 1:
        reordered = tuple(reversed(proof.path))
        assert fails(InclusionProof(leaf_index=i, tree_size=n, path=reordered))


@settings(max_examples=30, deadline=None)
@given(entries=logs(), data=st.data())
def test_consistency_proofs_verify(entries: list[bytes], data: st.DataObject) -> None:
    store, roots = build_log(entries)
    n = len(entries)
    sizes = data.draw(
        st.lists(st.integers(min_value=0, max_value=n), min_size=1, max_size=20), label="sizes"
    )
    for m in sizes:
        store.reads = 0
        proof = consistency_proof(store, old_size=m, new_size=n)
        assert store.reads <= 2 * n.bit_length()
        verify_consistency(proof, old_root=roots[m], new_root=roots[n])
        # The store holds a bigger tree than the one asked about: proofs for older sizes work.
        older = consistency_proof(store, old_size=m // 2, new_size=m)
        verify_consistency(older, old_root=roots[m // 2], new_root=roots[m])


@settings(max_examples=25, deadline=None)
@given(entries=logs(), data=st.data())
def test_any_tampering_breaks_a_consistency_proof(
    entries: list[bytes], data: st.DataObject
) -> None:
    store, roots = build_log(entries)
    n = data.draw(st.integers(min_value=2, max_value=max(2, len(entries))), label="new size")
    if n > len(entries):
        return  # a one-leaf log has no non-trivial consistency proof
    m = data.draw(st.integers(min_value=1, max_value=n - 1), label="old size")
    proof = consistency_proof(store, old_size=m, new_size=n)
    old, new = roots[m], roots[n]
    verify_consistency(proof, old_root=old, new_root=new)

    def fails(p: ConsistencyProof = proof, o: bytes = old, nr: bytes = new) -> bool:
        return not is_consistent(p, old_root=o, new_root=nr)

    for k, element in enumerate(proof.path):
        for flipped in every_bit_flip(element):
            path = (*proof.path[:k], flipped, *proof.path[k + 1 :])
            assert fails(ConsistencyProof(old_size=m, new_size=n, path=path))
    assert all(fails(o=flipped) for flipped in every_bit_flip(old))
    assert all(fails(nr=flipped) for flipped in every_bit_flip(new))
    assert fails(o=new, nr=old)
    # Other sizes: caught unless they give the verifier exactly the same work to do.
    shape = consistency_shape(m, n)
    for old_size in range(-1, n + 2):
        if old_size != m:
            same = 0 < old_size < n and consistency_shape(old_size, n) == shape
            assert fails(ConsistencyProof(old_size=old_size, new_size=n, path=proof.path)) is not (
                same
            )
    for new_size in range(0, 2 * n + 2):
        if new_size != n:
            same = m < new_size and consistency_shape(m, new_size) == shape
            assert fails(ConsistencyProof(old_size=m, new_size=new_size, path=proof.path)) is not (
                same
            )
    assert fails(ConsistencyProof(old_size=m, new_size=n, path=proof.path[:-1]))
    assert fails(ConsistencyProof(old_size=m, new_size=n, path=(*proof.path, new)))
    assert fails(ConsistencyProof(old_size=m, new_size=n, path=(old, *proof.path)))


@settings(max_examples=30, deadline=None)
@given(entries=logs(max_size=80), data=st.data())
def test_a_rewritten_history_fails_consistency(entries: list[bytes], data: st.DataObject) -> None:
    """A log that changes any earlier record cannot prove its new tree extends the old one."""
    n = len(entries)
    if n < 2:
        return
    m = data.draw(st.integers(min_value=1, max_value=n - 1), label="old size")
    victim = data.draw(st.integers(min_value=0, max_value=m - 1), label="rewritten record")
    _, honest_roots = build_log(entries)
    forged_entries = [*entries[:victim], b"forged" + entries[victim], *entries[victim + 1 :]]
    forged_store, forged_roots = build_log(forged_entries)
    proof = consistency_proof(forged_store, old_size=m, new_size=n)
    assert not is_consistent(proof, old_root=honest_roots[m], new_root=forged_roots[n])
