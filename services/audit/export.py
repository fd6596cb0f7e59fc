"""The hub's side of verification: evidence files produced from the store, in the formats
`services.audit.verify` reads (and nothing the verifier has to trust).

- `export_log`: the whole log (entries + checkpoint history) for `safehub audit verify log`;

Every entry's "data" is its leaf input. A committed leaf (an entry naming a child) that still
opens also carries its opening ("record", "salt") unless the export is for a partner who gets
commitments only (`openings=False`): such an export proves the same tree and every proof
verifies, but holds nothing of any child's records.
- `inclusion_evidence`: entry + inclusion proof + the signed checkpoint it is proven against;
- `consistency_evidence`: the proof between two signed checkpoints, with both notes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from services.audit.domain.witnessing import cosigned_note
from services.audit.errors import NotFound, NotYetCheckpointed
from services.audit.storage import (
    AuditStore,
    StoredCheckpoint,
    StoredLeaf,
    consistency_proof_between,
    inclusion_proof_for,
)
from services.audit.verify import (
    EXPORT_FORMAT,
    ExportedEntry,
    encode_consistency_proof,
    encode_entry,
    encode_inclusion_proof,
    entry_view,
)
from services.hubkit.codec import SchemaCatalog
from services.hubkit.cosignature import Cosignature
from services.hubkit.private_files import write_atomically

__all__ = [
    "ConsistencyEvidence",
    "ExportSummary",
    "InclusionEvidence",
    "consistency_evidence",
    "decision_leaves",
    "export_log",
    "exported_entry",
    "inclusion_evidence",
]

_EXPORT_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class ExportSummary:
    entries: int
    checkpoints: int
    directory: Path


@dataclass(frozen=True, slots=True)
class InclusionEvidence:
    leaf: StoredLeaf
    entry: bytes
    proof: bytes
    checkpoint: StoredCheckpoint


@dataclass(frozen=True, slots=True)
class ConsistencyEvidence:
    old: StoredCheckpoint
    new: StoredCheckpoint
    proof: bytes


def export_log(
    store: AuditStore,
    directory: Path,
    *,
    catalog: SchemaCatalog | None = None,
    up_to_size: int | None = None,
    openings: bool = True,
    cosignatures: Mapping[int, Sequence[Cosignature]] | None = None,
) -> ExportSummary:
    """Write entries [0, size) and every checkpoint to `directory`. By default the export ends
    at the latest signed checkpoint, so every exported entry is covered by a signature;
    readable views are included when a catalog is given; openings of committed leaves unless
    `openings` is False (commitments only). Witnesses' `cosignatures` (by tree size) are
    appended to each checkpoint's note after the log's own signature."""
    directory.mkdir(parents=True, exist_ok=True)
    history = store.checkpoints()
    if up_to_size is None:
        up_to_size = history[-1].checkpoint.tree_size if history else 0
    up_to_size = min(up_to_size, store.head().size)
    entries_path = directory / "entries.jsonl"
    partial = entries_path.with_name(entries_path.name + ".partial")
    with partial.open("wb") as out:
        for start in range(0, up_to_size, _EXPORT_CHUNK):
            for leaf in store.leaves(start, min(start + _EXPORT_CHUNK, up_to_size)):
                exported = exported_entry(leaf, catalog=catalog, openings=openings)
                out.write(encode_entry(exported, indent=False))
                out.write(b"\n")
    os.replace(partial, entries_path)
    lines = [
        json.dumps(
            {
                "tree_size": c.checkpoint.tree_size,
                "note": cosigned_note(
                    c.note, (cosignatures or {}).get(c.checkpoint.tree_size, ())
                ).decode(),
            }
        )
        + "\n"
        for c in history
    ]
    write_atomically(directory / "checkpoints.jsonl", "".join(lines).encode())
    manifest = {
        "format": EXPORT_FORMAT,
        "origin": history[-1].checkpoint.origin if history else None,
        "entries": up_to_size,
        "checkpoints": len(history),
        "note": "informational only: verify with the log's public key, not with this file",
    }
    write_atomically(directory / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    return ExportSummary(entries=up_to_size, checkpoints=len(history), directory=directory)


def exported_entry(
    leaf: StoredLeaf, *, catalog: SchemaCatalog | None, openings: bool = True
) -> ExportedEntry:
    """A stored leaf as an entry file: its leaf input, its opening when it has one and it is
    asked for, and the readable view of what is given."""
    opened = openings and leaf.opened
    entry = ExportedEntry(
        leaf_index=leaf.leaf_index,
        data=leaf.tree_input,
        record=leaf.data if opened else None,
        salt=leaf.salt if opened else None,
    )
    if catalog is None:
        return entry
    return replace(entry, view=entry_view(catalog, entry.readable))


def _checkpoint_for(store: AuditStore, tree_size: int | None) -> StoredCheckpoint:
    if tree_size is not None:
        return store.checkpoint(tree_size)
    latest = store.latest_checkpoint()
    if latest is None:
        raise NotYetCheckpointed("the log has not signed a checkpoint yet; try again shortly")
    return latest


def inclusion_evidence(
    store: AuditStore,
    *,
    leaf_index: int,
    tree_size: int | None = None,
    catalog: SchemaCatalog | None = None,
    openings: bool = True,
) -> InclusionEvidence:
    """Entry, proof and checkpoint for one leaf, against the latest (or a given) checkpoint."""
    leaf = store.leaf(leaf_index)
    checkpoint = _checkpoint_for(store, tree_size)
    size = checkpoint.checkpoint.tree_size
    if leaf_index >= size:
        raise NotYetCheckpointed(
            f"leaf {leaf_index} is logged but the latest signed checkpoint covers {size} "
            "entries; ask again after the next checkpoint"
        )
    proof = inclusion_proof_for(store, leaf_index=leaf_index, tree_size=size)
    return InclusionEvidence(
        leaf=leaf,
        entry=encode_entry(exported_entry(leaf, catalog=catalog, openings=openings)),
        proof=encode_inclusion_proof(proof),
        checkpoint=checkpoint,
    )


def decision_leaves(store: AuditStore, decision_id: str) -> list[StoredLeaf]:
    leaves = store.leaves_for_entry(decision_id)
    if not leaves:
        raise NotFound(f"no decision {decision_id} in the log")
    return leaves


def consistency_evidence(
    store: AuditStore, *, old_size: int, new_size: int | None = None
) -> ConsistencyEvidence:
    """The proof that the checkpoint at `new_size` (default: latest) extends the one at
    `old_size`; both must be checkpoints the log signed."""
    old = store.checkpoint(old_size)
    new = _checkpoint_for(store, new_size)
    proof = consistency_proof_between(
        store, old_size=old.checkpoint.tree_size, new_size=new.checkpoint.tree_size
    )
    return ConsistencyEvidence(old=old, new=new, proof=encode_consistency_proof(proof))
