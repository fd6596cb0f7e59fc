"""The audit store: one interface (`AuditStore`), one implementation on SQLAlchemy Core
(`services.audit.storage_sql.SqlAuditStore`) for SQLite and PostgreSQL.

What a store guarantees
- Append-only: a batch is appended in one database transaction with its leaves, their index
  rows and rule ids, the perfect subtrees it completed and the new tree head; a crash at any
  point leaves either the whole batch or none of it. Leaf indices are the primary key and are
  assigned from the committed head only, so an index that was ever committed is never
  assigned again; indices of a batch that rolled back were never visible to anyone (no
  checkpoint, proof or query saw them).
- Writers serialise on the head row, so the indexer and the IG API (which logs every query)
  may append from different processes.
- Tree state survives restarts: the head holds the right edge of the tree, every completed
  perfect subtree is stored, so proofs for any earlier size are O(log n) reads.
- Checkpoint history: every signed checkpoint, at most one per tree size, never a second root
  for a size (the store refuses to record a split view of its own log).
- Entries naming a child commit to a salted hash (`services.audit.domain.commitment`): the
  store holds a data key per child (`child_keys`, wrapped under the store key,
  `services.hubkit.child_keys`), derives each entry's salt from it, appends the commitment as
  the leaf and keeps the record sealed under the child's key (`leaf_openings`). Readers get
  the opened record as `StoredLeaf.data`. `erase_child` deletes the child's key and openings
  (and its sealed linkage key) in one transaction; the leaves, subtrees, head and checkpoints
  are untouched, so every proof still verifies.
- Linkage history: the child index's merges and splits (`services.audit.linkage`), in the
  order read, each event id once, append-only beside the tree (not leaves of it: they are
  not audit records, and the log's proofs and exports are unchanged by them). Children are
  recorded there by child reference, their keys sealed (erased with the child).

The proof helpers below work on any `AuditStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.commitment import opens
from services.audit.domain.merkle import (
    CompactRange,
    ConsistencyProof,
    InclusionProof,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    verify_consistency,
)
from services.audit.errors import (
    ConsistencyProofInvalid,
    ProofRequestInvalid,
    StorageCorrupt,
)
from services.audit.indexer import EntryKind, IndexColumns, LogEntry, SourcePosition
from services.audit.linkage import LinkageChanged

__all__ = [
    "AppendResult",
    "AuditStore",
    "CachedSubtrees",
    "ChildErasure",
    "DecisionQuery",
    "LinkageAppendResult",
    "ProcessingCount",
    "StoredCheckpoint",
    "StoredLeaf",
    "TreeHead",
    "check_tree",
    "check_tree_full",
    "consistency_proof_between",
    "inclusion_proof_for",
]


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The committed tree: its size and RFC 9162 root."""

    size: int
    root: bytes


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append did: leaves added (first index, count), re-deliveries skipped, how many
    of the added leaves re-use a logged decision id, and the head afterwards."""

    first_index: int
    appended: int
    skipped: int
    duplicates: int
    head: TreeHead


@dataclass(frozen=True, slots=True)
class LinkageAppendResult:
    """What one batch from the linkage topic did: changes recorded, changes already recorded
    (same event id: a re-delivery) and rejected records appended to the log as leaves."""

    recorded: int
    repeated: int
    rejected: AppendResult


@dataclass(frozen=True, slots=True)
class StoredLeaf:
    """A leaf as readers see it. `data` is the readable record: for a committed leaf that is
    still opened, its opening; otherwise the leaf input itself. For an erased leaf (`erased`)
    `data` is the commitment, which decodes as no record: readers skip erased leaves."""

    leaf_index: int
    leaf_hash: bytes
    data: bytes
    kind: EntryKind
    entry_id: str
    duplicate_of: int | None
    columns: IndexColumns
    source: SourcePosition | None
    appended_at_ms: int
    leaf_input: bytes | None = None
    """What the tree hashes, when it differs from `data` (a committed leaf that opened);
    None when `data` is the leaf input. Use `tree_input`."""
    salt: bytes | None = None
    """The salt of an opened committed leaf (`commitment.leaf_salt`), for openings in exports."""
    erased: bool = False
    """A committed leaf whose child was erased: its opening is gone for good."""

    @property
    def tree_input(self) -> bytes:
        """The bytes the tree hashes for this leaf (RFC 9162 leaf input)."""
        return self.data if self.leaf_input is None else self.leaf_input

    @property
    def opened(self) -> bool:
        """A committed leaf whose record and salt are at hand."""
        return self.leaf_input is not None and self.salt is not None


@dataclass(frozen=True, slots=True)
class ChildErasure:
    """What `erase_child` did: the child's reference in the store (a keyed hash, never the
    linkage key) and how many leaves' openings it deleted (0 when already erased)."""

    child_ref: str
    leaves: int


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint the log signed, its signed note, and when it was published (if yet)."""

    checkpoint: Checkpoint
    note: bytes
    published_at_ms: int | None


@dataclass(frozen=True, slots=True)
class DecisionQuery:
    """Filters for decision entries; every filter given must match. Times are decided-at,
    milliseconds since the epoch (UTC), `decided_from_ms` inclusive, `decided_to_ms` exclusive.
    Results are in leaf order."""

    notice_id: str | None = None
    subject_linkage_key: str | None = None
    recipient: str | None = None
    """Subscriber id of the recipient."""
    organisation: str | None = None
    role: str | None = None
    decided_from_ms: int | None = None
    decided_to_ms: int | None = None
    outcome: str | None = None
    rule_id: str | None = None
    event: str | None = None
    purpose: str | None = None
    """The decision's purpose code (e.g. EMERGENCY_ACCESS for a break-glass grant)."""
    limit: int = 1000
    offset: int = 0
    kind: EntryKind = EntryKind.DECISION
    """Which kind of entry: decisions, or console access events (indexed by the child they
    were about, for subject access reports)."""


@dataclass(frozen=True, slots=True)
class ProcessingCount:
    """One row of the record of processing: decisions per purpose, recipient and outcome."""

    purpose: str | None
    recipient_subscriber_id: str | None
    recipient_agency: str | None
    recipient_organisation: str | None
    recipient_role: str | None
    outcome: str | None
    count: int


class AuditStore(Protocol):
    """The audit log's storage port. Also a `SubtreeHashes` reader for proof generation."""

    def append(self, entries: Sequence[LogEntry], *, appended_at_ms: int) -> AppendResult:
        """Append a batch in one transaction, skipping re-deliveries (see indexer)."""
        ...

    def head(self) -> TreeHead: ...

    def subtree_hash(self, level: int, index: int) -> bytes:
        """A perfect subtree of the committed tree; raises ProofRequestInvalid if incomplete."""
        ...

    def leaf(self, leaf_index: int) -> StoredLeaf:
        """Raises NotFound."""
        ...

    def leaves(self, start: int, end: int) -> list[StoredLeaf]:
        """Leaves [start, end) that exist, in order."""
        ...

    def leaves_for_entry(self, entry_id: str) -> list[StoredLeaf]:
        """Every leaf logged under a decision id (or access id), in order."""
        ...

    def find(self, query: DecisionQuery) -> list[StoredLeaf]:
        """Decision entries (kind DECISION) matching the query."""
        ...

    def processing_summary(
        self, *, decided_from_ms: int | None, decided_to_ms: int | None
    ) -> list[ProcessingCount]:
        """Decision counts per purpose, recipient and outcome (sharing decisions only)."""
        ...

    def entries_of_kind(self, kind: EntryKind, *, limit: int, offset: int) -> list[StoredLeaf]:
        """Entries of one kind (e.g. console access events, rejections), in leaf order."""
        ...

    def count_of_kind(self, kind: EntryKind) -> int: ...

    def next_source_offset(self, topic: str, partition: int) -> int | None:
        """The offset after the last record logged (or linkage change recorded) from a topic
        partition, if any."""
        ...

    def append_linkage(
        self,
        changes: Sequence[LinkageChanged],
        *,
        rejected: Sequence[LogEntry] = (),
        appended_at_ms: int,
    ) -> LinkageAppendResult:
        """Record a batch read from the linkage topic in one transaction: the changes (in
        order; an event id already recorded is skipped) and the records that were not
        changes, as REJECTED leaves of the log."""
        ...

    def linkage_changes(self) -> list[LinkageChanged]:
        """Every recorded linkage change, in the order recorded."""
        ...

    def erase_child(self, subject_linkage_key: str) -> ChildErasure:
        """In one transaction: delete the child's data key and the openings of its leaves.
        Its leaves stay (as commitments), so the tree and every proof are unchanged.
        Idempotent: a second call erases 0 leaves."""
        ...

    def child_readable(self, subject_linkage_key: str) -> bool:
        """Whether anything of the child can still be opened (its key or any opening)."""
        ...

    def child_ref(self, subject_linkage_key: str) -> str:
        """The store's keyed reference to a child (HMAC under the store's index key): what
        erasure entries name, as a digest, instead of the key."""
        ...

    def add_checkpoint(self, checkpoint: Checkpoint, note: bytes) -> StoredCheckpoint:
        """Record a signed checkpoint. Idempotent for the same size and root; raises
        StorageCorrupt for a different root at a recorded size, or a root that is not the
        stored tree's root at that size."""
        ...

    def mark_published(self, tree_size: int, *, at_ms: int) -> None: ...

    def checkpoints(self) -> list[StoredCheckpoint]:
        """Checkpoint history, oldest (smallest) first."""
        ...

    def checkpoint(self, tree_size: int) -> StoredCheckpoint:
        """Raises NotFound."""
        ...

    def latest_checkpoint(self) -> StoredCheckpoint | None: ...

    def close(self) -> None: ...


class CachedSubtrees:
    """A read-through memo of a store's perfect subtree hashes, for bulk work (proofs for
    every leaf, exports): each subtree is read once instead of once per proof.

    Complete perfect subtrees never change in an honest log, so the memo is always right for
    one; keep it short-lived all the same, so a check run later reads what the database holds
    then (a changed row must not hide behind a cached copy)."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._memo: dict[tuple[int, int], bytes] = {}

    def subtree_hash(self, level: int, index: int) -> bytes:
        key = (level, index)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self._store.subtree_hash(level, index)
        return found


def inclusion_proof_for(store: AuditStore, *, leaf_index: int, tree_size: int) -> InclusionProof:
    """RFC 9162 inclusion proof of a stored leaf in the tree of `tree_size` leaves."""
    size = store.head().size
    if tree_size > size:
        raise ProofRequestInvalid(
            f"the log holds {size} leaves; no proof for a tree of size {tree_size} yet"
        )
    return inclusion_proof(store, leaf_index=leaf_index, tree_size=tree_size)


def consistency_proof_between(
    store: AuditStore, *, old_size: int, new_size: int
) -> ConsistencyProof:
    """RFC 9162 consistency proof between two sizes the store has reached."""
    size = store.head().size
    if new_size > size:
        raise ProofRequestInvalid(
            f"the log holds {size} leaves; no proof up to size {new_size} yet"
        )
    return consistency_proof(store, old_size=old_size, new_size=new_size)


def check_tree(store: AuditStore) -> TreeHead:
    """Check the store agrees with itself before anyone signs over it.

    The head's root must be the root rebuilt from the stored perfect subtrees, and the tree
    must extend the latest signed checkpoint (a consistency proof from stored nodes, checked).
    Raises StorageCorrupt otherwise. O(log n) reads.
    """
    head = store.head()
    rebuilt = CompactRange.from_subtrees(store, head.size).root()
    if rebuilt != head.root:
        raise StorageCorrupt(
            f"the stored head says root {head.root.hex()} at size {head.size}, but the stored "
            f"subtrees give {rebuilt.hex()}; stop appending and investigate the database"
        )
    latest = store.latest_checkpoint()
    if latest is not None:
        old = latest.checkpoint
        if old.tree_size > head.size:
            raise StorageCorrupt(
                f"the log signed size {old.tree_size} but the store holds {head.size} leaves"
            )
        proof = consistency_proof(store, old_size=old.tree_size, new_size=head.size)
        try:
            verify_consistency(proof, old_root=old.root_hash, new_root=head.root)
        except ConsistencyProofInvalid as error:
            raise StorageCorrupt(
                f"the stored tree does not extend the last signed checkpoint: {error.reason}"
            ) from error
    return head


def check_tree_full(store: AuditStore, *, chunk: int = 1000) -> TreeHead:
    """Everything `check_tree` checks, plus every stored leaf hash against its leaf input, every
    opened leaf's opening against its commitment, and every stored perfect subtree against the
    leaves: O(n). Catches a row rewritten anywhere, not
    only on the right edge. Raises StorageCorrupt naming the first bad leaf or node."""
    head = check_tree(store)
    layer: list[bytes] = []
    for start in range(0, head.size, chunk):
        for leaf in store.leaves(start, min(start + chunk, head.size)):
            if leaf.leaf_index != len(layer):
                raise StorageCorrupt(f"leaf {len(layer)} is missing from the store")
            if leaf_hash(leaf.tree_input) != leaf.leaf_hash:
                raise StorageCorrupt(
                    f"leaf {leaf.leaf_index}'s bytes do not hash to its stored leaf hash: the "
                    "row was edited"
                )
            if leaf.salt is not None and not opens(leaf.tree_input, leaf.salt, leaf.data):
                raise StorageCorrupt(
                    f"leaf {leaf.leaf_index}'s stored opening does not open its commitment: "
                    "the opening or the child's key was replaced"
                )
            layer.append(leaf.leaf_hash)
    if len(layer) != head.size:
        raise StorageCorrupt(f"the store holds {len(layer)} leaves, its head says {head.size}")
    level = 0
    while len(layer) > 1:
        layer = [node_hash(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        level += 1
        for index, expected in enumerate(layer):
            if store.subtree_hash(level, index) != expected:
                raise StorageCorrupt(
                    f"stored subtree (level {level}, index {index}) does not match its leaves"
                )
    return head
