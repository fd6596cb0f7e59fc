"""Receipts for a decision (issue 19): C2SP tlog-proof files that anyone holding the partners'
tlog-policy (the log's and the witnesses' verifier keys) checks offline, proving the decision
is in the log the partners' witnesses cosigned.

A decision may have more than one leaf (a re-delivered record is not logged twice, but a
decision and its withdrawal receipts can share an id): one receipt per leaf, each a pair of files

    decision-<id>.leaf-<N>.tlog-proof     c2sp.org/tlog-proof@v1: index N, the RFC 6962 path,
                                          the checkpoint with the witnesses' cosignatures
    decision-<id>.leaf-<N>.entry.json     the entry file (safehub.audit.entry.v1, as `verify`
                                          reads it): "data" is the leaf input the tree hashed
                                          (tlog-proof step 1), "record"/"salt" its opening

The hub side (`decision_receipts`, reading the store) proves every leaf against the latest
checkpoint whose stored cosignatures meet the policy's quorum when witnessing is on, else
against the latest checkpoint. The partner side (`verify_receipt`, pure) checks the entry's
opening and view, then `services.hubkit.tlog_proof.verify_tlog_proof`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.audit.cosignatures import CosignatureStore
from services.audit.domain.checkpoint import encode_checkpoint
from services.audit.domain.witnessing import (
    WitnessPolicy,
    cosigned_note,
    quorum_met,
    verified_witnesses,
)
from services.audit.errors import EvidenceMalformed, NotYetCheckpointed
from services.audit.export import decision_leaves, exported_entry
from services.audit.storage import AuditStore, StoredCheckpoint, inclusion_proof_for
from services.audit.verify import ExportedEntry, check_entry, decode_entry, encode_entry
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.cosignature import Cosignature
from services.hubkit.errors import CodecError
from services.hubkit.tlog_proof import (
    TLOG_PROOF_SUFFIX,
    TlogProof,
    decode_tlog_proof,
    encode_tlog_proof,
    verify_tlog_proof,
)

__all__ = [
    "ENTRY_SUFFIX",
    "RECEIPTS_FORMAT",
    "DecisionReceipts",
    "Receipt",
    "ReceiptReport",
    "decision_receipts",
    "entry_path_for",
    "receipt_checkpoint",
    "receipt_file_stem",
    "verify_receipt",
]

RECEIPTS_FORMAT = "safehub.audit.receipts.v1"
ENTRY_SUFFIX = ".entry.json"
_SAFE_ID = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class Receipt:
    leaf_index: int
    tlog_proof: bytes
    entry: bytes
    """The entry file (safehub.audit.entry.v1) whose "data" the proof is for."""


@dataclass(frozen=True, slots=True)
class DecisionReceipts:
    decision_id: str
    tree_size: int
    witnesses: tuple[str, ...]
    """Policy names of the witnesses whose cosignatures met the quorum (empty without one)."""
    receipts: tuple[Receipt, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": RECEIPTS_FORMAT,
            "decision_id": self.decision_id,
            "tree_size": self.tree_size,
            "witnesses": list(self.witnesses),
            "receipts": [
                {
                    "leaf_index": r.leaf_index,
                    "tlog_proof": r.tlog_proof.decode(),
                    "entry": json.loads(r.entry),
                }
                for r in self.receipts
            ],
        }


def receipt_file_stem(decision_id: str, leaf_index: int) -> str:
    """The files' common name; the id is reduced to characters safe in any file system."""
    return f"decision-{_SAFE_ID.sub('_', decision_id)}.leaf-{leaf_index}"


# ---------------------------------------------------------------------------------------------
# The hub side


def _cosigned_by(
    policy: WitnessPolicy, stored: StoredCheckpoint, cosignatures: Sequence[Cosignature]
) -> tuple[str, ...] | None:
    """The witnesses whose stored cosignatures verify, if they meet the quorum; else None."""
    verified = verified_witnesses(
        policy, encode_checkpoint(stored.checkpoint), [c.note_signature() for c in cosignatures]
    )
    return tuple(sorted(verified)) if quorum_met(policy, verified) else None


def receipt_checkpoint(
    store: AuditStore,
    cosignatures: CosignatureStore | None,
    policy: WitnessPolicy | None,
) -> tuple[StoredCheckpoint, list[Cosignature], tuple[str, ...]]:
    """The checkpoint receipts are proven against, its cosignatures and the witnesses that met
    the quorum: with a policy, the latest checkpoint whose cosignatures meet it (a receipt
    against an unwitnessed checkpoint would fail at the partner); else the latest."""
    if policy is None:
        latest = store.latest_checkpoint()
        if latest is None:
            raise NotYetCheckpointed("the log has not signed a checkpoint yet; try again shortly")
        found = cosignatures.for_checkpoint(latest.checkpoint.tree_size) if cosignatures else []
        return latest, found, ()
    stored_sets = cosignatures.by_checkpoint() if cosignatures else {}
    for size in sorted(stored_sets, reverse=True):
        stored = store.checkpoint(size)
        witnessed = _cosigned_by(policy, stored, stored_sets[size])
        if witnessed is not None:
            return stored, stored_sets[size], witnessed
    raise NotYetCheckpointed(
        "no checkpoint has cosignatures meeting the witness policy's quorum yet; the indexer "
        "submits each checkpoint to the witnesses: try again after the next one is cosigned"
    )


def decision_receipts(
    store: AuditStore,
    decision_id: str,
    *,
    cosignatures: CosignatureStore | None,
    policy: WitnessPolicy | None,
    catalog: SchemaCatalog | None = None,
) -> DecisionReceipts:
    """One receipt per leaf logged under `decision_id`. NotFound for an unknown decision;
    NotYetCheckpointed when a leaf is not yet covered by the chosen checkpoint."""
    leaves = decision_leaves(store, decision_id)
    checkpoint, cosigs, witnessed = receipt_checkpoint(store, cosignatures, policy)
    size = checkpoint.checkpoint.tree_size
    note = cosigned_note(checkpoint.note, cosigs)
    receipts = []
    for leaf in leaves:
        if leaf.leaf_index >= size:
            raise NotYetCheckpointed(
                f"leaf {leaf.leaf_index} of this decision is logged but the checkpoint for "
                f"receipts covers {size} entries; ask again after the next "
                + ("cosigned checkpoint" if policy is not None else "checkpoint")
            )
        path = inclusion_proof_for(store, leaf_index=leaf.leaf_index, tree_size=size).path
        receipts.append(
            Receipt(
                leaf_index=leaf.leaf_index,
                tlog_proof=encode_tlog_proof(
                    TlogProof(index=leaf.leaf_index, path=path, checkpoint=note)
                ),
                entry=encode_entry(exported_entry(leaf, catalog=catalog)),
            )
        )
    return DecisionReceipts(
        decision_id=decision_id, tree_size=size, witnesses=witnessed, receipts=tuple(receipts)
    )


# ---------------------------------------------------------------------------------------------
# The partner side: pure, public keys only


@dataclass(frozen=True, slots=True)
class ReceiptReport:
    """What a receipt proved."""

    leaf_index: int
    origin: str
    tree_size: int
    witnesses: tuple[str, ...]
    decision_id: str | None
    """From the opened record; None when the entry carries no opening (a commitment only)."""
    event: str | None


def _decision_of(
    entry: ExportedEntry, catalog: SchemaCatalog | None
) -> tuple[str | None, str | None]:
    if catalog is None:
        return None, None
    try:
        logged = read_logged_record(catalog, entry.readable)
    except CodecError:
        return None, None
    if logged.message_type is not MessageType.AUDIT_RECORD:
        return None, None
    event = logged.record.get("event")
    return str(logged.record["decision_id"]), None if event is None else str(event)


def verify_receipt(
    *,
    tlog_proof: bytes,
    entry: bytes,
    policy: WitnessPolicy,
    catalog: SchemaCatalog | None = None,
) -> ReceiptReport:
    """Check a receipt with the partners' policy only: the entry file's opening and view, then
    the tlog-proof (leaf hash of the entry's "data", the log's signature by a `log` key of the
    policy, the witnesses' quorum, inclusion). Raises EvidenceMalformed or EntryEdited (the
    entry), or a hubkit TransparencyLogError (the proof), each with a reason."""
    proof = decode_tlog_proof(tlog_proof)
    exported = decode_entry(entry)
    if exported.leaf_index != proof.index:
        raise EvidenceMalformed(
            f"the receipt is for leaf {proof.index} but the entry file says leaf "
            f"{exported.leaf_index}: they are not one receipt"
        )
    check_entry(exported, catalog)
    verified = verify_tlog_proof(
        proof,
        entry=exported.data,
        log_keys=policy.logs,
        witnesses={w.name: w.key for w in policy.witnesses},
        quorum_met=lambda names: quorum_met(policy, names),
    )
    decision_id, event = _decision_of(exported, catalog)
    return ReceiptReport(
        leaf_index=verified.index,
        origin=verified.checkpoint.origin,
        tree_size=verified.checkpoint.tree_size,
        witnesses=verified.witnesses,
        decision_id=decision_id,
        event=event,
    )


def entry_path_for(proof_name: str) -> str:
    """The entry file beside a receipt: `X.tlog-proof` -> `X.entry.json`."""
    stem = (
        proof_name[: -len(TLOG_PROOF_SUFFIX)]
        if proof_name.endswith(TLOG_PROOF_SUFFIX)
        else proof_name
    )
    return stem + ENTRY_SUFFIX
