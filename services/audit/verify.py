"""The verifier a partner agency runs with only the hub's public key and files the hub gave it.

Files (all produced by `safehub audit export` / `proof` / `checkpoint`, or the IG API):

checkpoint file   a C2SP signed note (see `services.audit.domain.checkpoint`), as published on
                  `audit.checkpoints.v1`
entry file        JSON {"format": "safehub.audit.entry.v1", "leaf_index": N,
                  "data": base64 of the leaf input (the exact bytes the tree hashes),
                  "record": base64 of the record, "salt": hex (both only for a committed
                  leaf the hub opened for you), "view": readable form (optional)}
proof file        JSON {"format": "safehub.audit.proof.v1", "kind": "inclusion",
                  "leaf_index": N, "tree_size": S, "path": [hex hashes]}  or
                  {..., "kind": "consistency", "old_size": A, "new_size": B, "path": [...]}
export directory  entries.jsonl (one entry per line, in leaf order), checkpoints.jsonl
                  ({"tree_size": S, "note": signed note text} per line), manifest.json
                  (informational only: nothing in it is trusted)

What is checked, and which attack each check catches:
- every checkpoint carries a valid Ed25519 signature by the log key (forged checkpoint);
- consistency between two checkpoints (RFC 9162 §2.1.4): a rewritten history fails; a newer
  checkpoint smaller than an older one is a truncated log (`LogTruncated`); two different
  roots for one size are a split view (`SplitViewDetected`);
- inclusion of an entry (RFC 9162 §2.1.3): an edited entry no longer hashes into the signed
  root (`InclusionProofInvalid`), and a readable view that differs from the logged bytes is
  reported (`EntryEdited`);
- a committed leaf (an entry that names a child: `services.audit.domain.commitment`): the tree
  holds only SHA-256(salt || record). Proofs verify over that leaf input with or without the
  opening, and after the child was erased; when the file carries "record" and "salt" they
  must open the commitment (else `EntryEdited`: a record swapped for another), and the view
  is checked against the record;
- a whole export: the entries are rehashed into the tree and its root compared with every
  signed checkpoint (an edited entry fails at the first checkpoint covering it; a missing
  entry is `EntriesMissing` or `EntryEdited`); all checkpoints, including ones gathered
  elsewhere (another agency's copy, the checkpoint topic), are cross-checked for split views
  and shrinking sizes.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError

from services.audit.domain.checkpoint import (
    Checkpoint,
    check_consistency,
    check_inclusion,
    check_split_view,
    decode_signed_note,
    encode_checkpoint,
    verify_checkpoint,
)
from services.audit.domain.commitment import COMMITTED_PREFIX, is_committed, opens
from services.audit.domain.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    ConsistencyProof,
    InclusionProof,
    leaf_hash,
)
from services.audit.domain.witnessing import (
    QuorumNotMet,
    WitnessPolicy,
    quorum_met,
    require_quorum,
    verified_witnesses,
)
from services.audit.errors import (
    CheckpointOriginMismatch,
    EntriesMissing,
    EntryEdited,
    EvidenceMalformed,
    LogTruncated,
)
from services.audit.indexer import (
    ACCESS_PREFIX,
    ERASURE_PREFIX,
    REJECTED_PREFIX,
    decode_access,
    decode_erasure,
    decode_rejected,
)
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError
from services.hubkit.notice import to_json_value

__all__ = [
    "ENTRY_FORMAT",
    "EXPORT_FORMAT",
    "PROOF_FORMAT",
    "ConsistencyReport",
    "ExportedEntry",
    "InclusionReport",
    "LogReport",
    "check_entry",
    "decode_consistency_proof",
    "decode_entry",
    "decode_inclusion_proof",
    "encode_consistency_proof",
    "encode_entry",
    "encode_inclusion_proof",
    "entry_view",
    "read_export",
    "verify_consistency_files",
    "verify_inclusion_files",
    "verify_log",
    "verify_note",
    "verify_witnessed",
]

_EntryFormat = Literal["safehub.audit.entry.v1"]
_ProofFormat = Literal["safehub.audit.proof.v1"]
ENTRY_FORMAT: str = get_args(_EntryFormat)[0]
PROOF_FORMAT: str = get_args(_ProofFormat)[0]
EXPORT_FORMAT = "safehub.audit.export.v1"


# ---------------------------------------------------------------------------------------------
# File formats


@dataclass(frozen=True, slots=True)
class ExportedEntry:
    """One entry of the log as handed to a partner. `data` is the leaf input (what the tree
    hashes); for a committed leaf the hub opened, `record` and `salt` are its opening."""

    leaf_index: int
    data: bytes
    view: Any | None = None
    record: bytes | None = None
    salt: bytes | None = None

    @property
    def readable(self) -> bytes:
        """The bytes a view describes: the opened record, else the leaf input."""
        return self.data if self.record is None else self.record


def _hex_hash(value: object) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != HASH_SIZE:
        raise ValueError(f"not a {HASH_SIZE}-byte hex hash")
    return raw


def _base64(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not base64: {error}") from error


_Count = Annotated[int, Field(ge=0, strict=True)]
_HexHash = Annotated[bytes, PlainValidator(_hex_hash)]
_Base64 = Annotated[bytes, PlainValidator(_base64)]


class _Evidence(BaseModel):
    """A file handed to the verifier: nothing in it is trusted, so every field is checked."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class _EntryFile(_Evidence):
    format: _EntryFormat
    leaf_index: _Count
    data: _Base64
    record: _Base64 | None = None
    salt: _HexHash | None = None
    view: Any = None


class _InclusionProofFile(_Evidence):
    format: _ProofFormat
    kind: Literal["inclusion"]
    leaf_index: _Count
    tree_size: _Count
    path: list[_HexHash]


class _ConsistencyProofFile(_Evidence):
    format: _ProofFormat
    kind: Literal["consistency"]
    old_size: _Count
    new_size: _Count
    path: list[_HexHash]


class _CheckpointLine(_Evidence):
    note: str


_E = TypeVar("_E", bound=_Evidence)


def _parse(model: type[_E], data: bytes, what: str) -> _E:
    """`data` as `model`, or EvidenceMalformed naming the first fields that are wrong."""
    try:
        return model.model_validate_json(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'the file'}: {problem['msg']}"
            for problem in error.errors()[:3]
        )
        raise EvidenceMalformed(f"the {what} is not valid evidence ({problems})") from error


def _dumps(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def encode_entry(entry: ExportedEntry, *, indent: bool = True) -> bytes:
    value: dict[str, Any] = {
        "format": ENTRY_FORMAT,
        "leaf_index": entry.leaf_index,
        "data": base64.b64encode(entry.data).decode("ascii"),
    }
    if entry.record is not None and entry.salt is not None:
        value["record"] = base64.b64encode(entry.record).decode("ascii")
        value["salt"] = entry.salt.hex()
    if entry.view is not None:
        value["view"] = entry.view
    if indent:
        return _dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode_entry(data: bytes) -> ExportedEntry:
    entry = _parse(_EntryFile, data, f"entry file ({ENTRY_FORMAT})")
    if (entry.record is None) != (entry.salt is None):
        raise EvidenceMalformed(
            f"entry {entry.leaf_index} carries a record without its salt, or a salt without "
            "its record: an opening needs both"
        )
    return ExportedEntry(
        leaf_index=entry.leaf_index,
        data=entry.data,
        view=entry.view,
        record=entry.record,
        salt=entry.salt,
    )


def encode_inclusion_proof(proof: InclusionProof) -> bytes:
    return _dumps(
        {
            "format": PROOF_FORMAT,
            "kind": "inclusion",
            "leaf_index": proof.leaf_index,
            "tree_size": proof.tree_size,
            "path": [h.hex() for h in proof.path],
        }
    )


def decode_inclusion_proof(data: bytes) -> InclusionProof:
    proof = _parse(_InclusionProofFile, data, f"inclusion proof file ({PROOF_FORMAT})")
    return InclusionProof(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        path=tuple(proof.path),
    )


def encode_consistency_proof(proof: ConsistencyProof) -> bytes:
    return _dumps(
        {
            "format": PROOF_FORMAT,
            "kind": "consistency",
            "old_size": proof.old_size,
            "new_size": proof.new_size,
            "path": [h.hex() for h in proof.path],
        }
    )


def decode_consistency_proof(data: bytes) -> ConsistencyProof:
    proof = _parse(_ConsistencyProofFile, data, f"consistency proof file ({PROOF_FORMAT})")
    return ConsistencyProof(
        old_size=proof.old_size,
        new_size=proof.new_size,
        path=tuple(proof.path),
    )


def entry_view(catalog: SchemaCatalog, data: bytes) -> Any:
    """A readable JSON form of leaf bytes: the decoded AuditRecord (with the key id that
    signed it), the console access event, the IG access entry, the rejection, an erasure
    step, a commitment whose opening is not given (or was erased), or a marker for bytes that
    do not decode."""
    if is_committed(data):
        return {"committed": data[len(COMMITTED_PREFIX) :].hex()}
    for prefix, name, decode in (
        (ACCESS_PREFIX, "access", decode_access),
        (REJECTED_PREFIX, "rejected", decode_rejected),
        (ERASURE_PREFIX, "erasure", decode_erasure),
    ):
        if data.startswith(prefix):
            try:
                return {name: decode(data)}
            except ValueError:
                return {"undecodable": True}
    try:
        logged = read_logged_record(catalog, data)
    except CodecError:
        return {"undecodable": True}
    name = "decision" if logged.message_type is MessageType.AUDIT_RECORD else "console_access"
    view: dict[str, Any] = {name: to_json_value(logged.record)}
    if logged.key_id is not None:
        view["signed_by"] = logged.key_id
    return view


# ---------------------------------------------------------------------------------------------
# Checks


def verify_note(note: bytes, public_key: Ed25519PublicKey) -> Checkpoint:
    """Parse a signed note and return its checkpoint once the log key's signature verifies."""
    return verify_checkpoint(decode_signed_note(note), public_key)


def verify_witnessed(
    note: bytes, public_key: Ed25519PublicKey, policy: WitnessPolicy
) -> tuple[Checkpoint, tuple[str, ...]]:
    """The log's signature verifies and the witnesses' cosignatures meet the partners' quorum
    (`services.audit.domain.witnessing`); returns the checkpoint and the witnesses that
    cosigned it. QuorumNotMet when they are too few."""
    signed = decode_signed_note(note)
    checkpoint = verify_checkpoint(signed, public_key)
    witnessed = require_quorum(
        policy,
        checkpoint_text=encode_checkpoint(checkpoint),
        signatures=signed.signatures,
        tree_size=checkpoint.tree_size,
    )
    return checkpoint, witnessed


def _check_opening(entry: ExportedEntry) -> None:
    """A record and salt given with an entry must open its leaf (a commitment): otherwise
    the record shown is not the one the log committed to."""
    if entry.record is None or entry.salt is None:
        return
    if not opens(entry.data, entry.salt, entry.record):
        raise EntryEdited(
            f"the record given with entry {entry.leaf_index} does not open its leaf (the "
            "commitment the log signed): the record or its salt was changed"
        )


def check_entry(entry: ExportedEntry, catalog: SchemaCatalog | None) -> None:
    """An entry's opening (record, salt) opens its leaf and its readable view matches its
    bytes: otherwise what is shown is not what the log committed to (EntryEdited)."""
    _check_opening(entry)
    if entry.view is None or catalog is None:
        return
    actual = entry_view(catalog, entry.readable)
    if actual != entry.view:
        raise EntryEdited(
            f"the readable view of entry {entry.leaf_index} does not match its logged bytes: "
            "the view was edited; trust only what the bytes say"
        )


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    old: Checkpoint
    new: Checkpoint


@dataclass(frozen=True, slots=True)
class InclusionReport:
    checkpoint: Checkpoint
    leaf_index: int
    leaf_hash: bytes


def verify_consistency_files(
    *, old_note: bytes, new_note: bytes, proof: bytes, public_key: Ed25519PublicKey
) -> ConsistencyReport:
    """Both checkpoints signed by the log, and the newer extends the older."""
    old = verify_note(old_note, public_key)
    new = verify_note(new_note, public_key)
    check_consistency(old, new, decode_consistency_proof(proof))
    return ConsistencyReport(old=old, new=new)


def verify_inclusion_files(
    *,
    entry: bytes,
    proof: bytes,
    note: bytes,
    public_key: Ed25519PublicKey,
    catalog: SchemaCatalog | None = None,
) -> InclusionReport:
    """The entry's bytes are at its index in the tree the signed checkpoint commits to."""
    checkpoint = verify_note(note, public_key)
    exported = decode_entry(entry)
    inclusion = decode_inclusion_proof(proof)
    if inclusion.leaf_index != exported.leaf_index:
        raise EvidenceMalformed(
            f"the proof is for leaf {inclusion.leaf_index} but the entry says it is leaf "
            f"{exported.leaf_index}"
        )
    check_entry(exported, catalog)
    digest = leaf_hash(exported.data)
    check_inclusion(checkpoint, inclusion, leaf_hash=digest)
    return InclusionReport(checkpoint=checkpoint, leaf_index=exported.leaf_index, leaf_hash=digest)


@dataclass(frozen=True, slots=True)
class LogReport:
    entries: int
    checkpoints: tuple[Checkpoint, ...]
    root: bytes
    unsigned_entries: int
    """Entries after the latest checkpoint: present but not yet committed to by a signature."""
    witnessed: dict[int, tuple[str, ...]] | None = None
    """With a witness policy: per checkpoint size, the witnesses whose cosignatures verified
    (possibly too few for the quorum: see witnessed_size)."""
    witnessed_size: int | None = None
    """With a witness policy: the largest checkpoint whose cosignatures meet the quorum. The
    entries rebuild every signed root, so the whole log up to this size is what the witnesses
    saw; entries beyond it are not yet witnessed (verify_log raised QuorumNotMet if no
    checkpoint met the quorum)."""

    @property
    def latest(self) -> Checkpoint | None:
        return max(self.checkpoints, key=lambda c: c.tree_size) if self.checkpoints else None


def _cross_check(checkpoints: Sequence[Checkpoint]) -> None:
    by_size: dict[int, Checkpoint] = {}
    for cp in checkpoints:
        seen = by_size.setdefault(cp.tree_size, cp)
        check_split_view(seen, cp)
    ordered = sorted(checkpoints, key=lambda c: (c.timestamp_ms, c.tree_size))
    for older, newer in itertools.pairwise(ordered):
        if newer.tree_size < older.tree_size:
            raise LogTruncated(older, newer)


def verify_log(
    *,
    entries: Iterable[ExportedEntry],
    notes: Iterable[bytes],
    public_key: Ed25519PublicKey,
    catalog: SchemaCatalog | None = None,
    policy: WitnessPolicy | None = None,
) -> LogReport:
    """Audit a whole log: every checkpoint signed, no split view, sizes never shrink, and the
    entries rebuild every signed root; with a witness policy, at least one checkpoint meets
    its quorum of cosignatures, and the report says up to which size the log is witnessed.

    Not every checkpoint needs the quorum: a checkpoint signed while a witness was down never
    gets that witness's cosignature (witnesses only cosign forward), and the entries rebuild
    every root, so a later checkpoint the quorum cosigned vouches for all of them."""
    witnessed: dict[int, tuple[str, ...]] | None = None
    witnessed_size: int | None = None
    if policy is None:
        checkpoints = [verify_note(note, public_key) for note in notes]
    else:
        checkpoints = []
        witnessed = {}
        for note in notes:
            signed = decode_signed_note(note)
            checkpoint = verify_checkpoint(signed, public_key)
            verified = verified_witnesses(policy, encode_checkpoint(checkpoint), signed.signatures)
            checkpoints.append(checkpoint)
            # One checkpoint may come in several notes (cosigned at different times): their
            # cosignatures count together (the split-view check below makes sure they are
            # one checkpoint).
            size = checkpoint.tree_size
            names = {*witnessed.get(size, ()), *verified}
            witnessed[size] = tuple(sorted(names))
            if quorum_met(policy, names) and size >= (witnessed_size or 0):
                witnessed_size = size
        if witnessed_size is None:
            latest = max(checkpoints, key=lambda c: c.tree_size, default=None)
            raise QuorumNotMet(
                tree_size=latest.tree_size if latest else 0,
                witnessed=witnessed.get(latest.tree_size, ()) if latest else (),
                quorum=policy.quorum,
            )
    for cp in checkpoints[1:]:
        if cp.origin != checkpoints[0].origin:
            raise CheckpointOriginMismatch(checkpoints[0], cp)
    _cross_check(checkpoints)
    roots = {cp.tree_size: cp.root_hash for cp in checkpoints}
    pending = sorted(roots)
    if pending and pending[0] == 0:
        if roots[0] != EMPTY_ROOT:
            raise EntryEdited("the log signed a non-empty root for the empty tree")
        pending.pop(0)
    tree = CompactRange()
    verified_up_to = 0
    for entry in entries:
        if entry.leaf_index != tree.size:
            raise EntryEdited(
                f"entry {tree.size} is missing (the next entry is {entry.leaf_index}): "
                "entries were removed from or reordered in the log"
            )
        check_entry(entry, catalog)
        tree = tree.append(leaf_hash(entry.data))
        if pending and pending[0] == tree.size:
            size = pending.pop(0)
            if tree.root() != roots[size]:
                raise EntryEdited(
                    f"entries {verified_up_to}..{size - 1} do not hash to the root the log "
                    f"signed at size {size} ({roots[size].hex()}, got {tree.root().hex()}): at "
                    "least one of them was changed after it was logged"
                )
            verified_up_to = size
    if pending:
        raise EntriesMissing(held=tree.size, signed_size=pending[-1])
    return LogReport(
        entries=tree.size,
        checkpoints=tuple(sorted(checkpoints, key=lambda c: c.tree_size)),
        root=tree.root(),
        unsigned_entries=tree.size - verified_up_to,
        witnessed=witnessed,
        witnessed_size=witnessed_size,
    )


def read_export(directory: Path) -> tuple[list[ExportedEntry], list[bytes]]:
    """Entries and checkpoint notes from an export directory (nothing in it is trusted)."""
    entries_path = directory / "entries.jsonl"
    checkpoints_path = directory / "checkpoints.jsonl"
    if not entries_path.exists() or not checkpoints_path.exists():
        raise EvidenceMalformed(
            f"{directory} is not an audit log export (needs entries.jsonl and checkpoints.jsonl)"
        )
    entries = [
        decode_entry(line.encode())
        for line in entries_path.read_text().splitlines()
        if line.strip()
    ]
    notes: list[bytes] = []
    for number, line in enumerate(checkpoints_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        checkpoint = _parse(_CheckpointLine, line.encode(), f"checkpoint line {number}")
        notes.append(checkpoint.note.encode())
    return entries, notes
