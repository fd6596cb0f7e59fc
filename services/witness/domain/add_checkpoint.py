"""The add-checkpoint decision of C2SP tlog-witness (c2sp.org/tlog-witness), as pure functions.

Two steps, so the edge can hold the origin's lock only around the second:

1. `read_submission(body, logs)`: parse the request and verify the log's signature.
   Malformed request, note or checkpoint -> 400; origin not witnessed -> 404; no verifying
   signature by a configured key of that origin, or a bad one -> 403; old size above the
   checkpoint's size -> 400.
2. `decide(submission, stored)`: against the latest state cosigned for the origin (None if
   never): old size not the stored size (0 if none) -> 409 with the stored size; a size-0
   checkpoint whose root is not the empty tree's, a proof given with old size 0, a proof that
   does not verify, or the same size with another root -> 422; otherwise cosign and store the
   checkpoint's (origin, size, root).

Because a checkpoint is cosigned only if it is the stored one or provably extends it, a witness
never cosigns two different roots for one size (the property test in
tests/witness/unit/test_add_checkpoint.py). No I/O, no clock: the edge passes the time and key.
"""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.hubkit.cosignature import cosign
from services.hubkit.errors import ConsistencyUnproven, NoteMalformed, NoteUnverified
from services.hubkit.merkle import EMPTY_ROOT, verify_consistency_path
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_ED25519,
    VerifierKey,
    decode_note,
    encode_signature_line,
    verify_ed25519_note,
)
from services.hubkit.tlog_checkpoint import TlogCheckpoint, decode_checkpoint_text
from services.hubkit.tlog_witness import decode_add_checkpoint

__all__ = [
    "Cosign",
    "LogState",
    "Refuse",
    "SizeConflict",
    "Submission",
    "WitnessedLog",
    "cosignature_lines",
    "decide",
    "read_submission",
    "witnessed_logs",
]


@dataclass(frozen=True, slots=True)
class LogState:
    """All a witness keeps of a log (tlog-witness): the latest checkpoint it cosigned."""

    origin: str
    size: int
    root_hash: bytes


@dataclass(frozen=True, slots=True)
class WitnessedLog:
    """A log this witness cosigns for: its origin and the Ed25519 (type 0x01) keys it trusts
    for it (more than one while the log rotates its key)."""

    origin: str
    keys: tuple[VerifierKey, ...]


def witnessed_logs(keys: Iterable[VerifierKey]) -> dict[str, WitnessedLog]:
    """Logs by origin from their verifier keys: a log's key is named after its origin."""
    by_origin: defaultdict[str, list[VerifierKey]] = defaultdict(list)
    for key in keys:
        if key.signature_type != SIGNATURE_TYPE_ED25519:
            raise NoteMalformed(
                f"verifier key {key.name}+{key.key_id.hex()} has type "
                f"{key.signature_type:#04x}; a log's checkpoint key is Ed25519 (0x01)"
            )
        by_origin[key.name].append(key)
    return {origin: WitnessedLog(origin, tuple(keys)) for origin, keys in by_origin.items()}


@dataclass(frozen=True, slots=True)
class Submission:
    """A well-formed request whose checkpoint the log's trusted key signed."""

    old_size: int
    proof: tuple[bytes, ...]
    checkpoint: TlogCheckpoint
    checkpoint_text: bytes  # the note text exactly as signed: what the cosignature covers


@dataclass(frozen=True, slots=True)
class Cosign:
    """200: cosign the checkpoint; `state` is what to persist (before answering)."""

    state: LogState


@dataclass(frozen=True, slots=True)
class SizeConflict:
    """409: the client's old size is not the latest size this witness cosigned."""

    current_size: int


@dataclass(frozen=True, slots=True)
class Refuse:
    """400, 403, 404 or 422 with a reason a log operator can act on."""

    status: HTTPStatus
    reason: str


def read_submission(body: bytes, logs: Mapping[str, WitnessedLog]) -> Submission | Refuse:
    """Step 1: parse and authenticate (see the module docstring for each answer)."""
    try:
        request = decode_add_checkpoint(body)
        note = decode_note(request.note)
        checkpoint = decode_checkpoint_text(note.text)
    except NoteMalformed as error:
        return Refuse(HTTPStatus.BAD_REQUEST, error.reason)
    log = logs.get(checkpoint.origin)
    if log is None:
        return Refuse(
            HTTPStatus.NOT_FOUND,
            f"this witness does not witness the log {checkpoint.origin!r}; ask its operator to "
            "add the log's verifier key",
        )
    try:
        verify_ed25519_note(note, log.keys)
    except NoteUnverified as error:
        return Refuse(HTTPStatus.FORBIDDEN, error.reason)
    if request.old_size > checkpoint.tree_size:
        return Refuse(
            HTTPStatus.BAD_REQUEST,
            f"old size {request.old_size} is above the checkpoint's size {checkpoint.tree_size}",
        )
    return Submission(
        old_size=request.old_size,
        proof=request.proof,
        checkpoint=checkpoint,
        checkpoint_text=note.text,
    )


def decide(submission: Submission, stored: LogState | None) -> Cosign | SizeConflict | Refuse:
    """Step 2: the answer, given the latest state cosigned for the submission's origin."""
    checkpoint = submission.checkpoint
    current_size = stored.size if stored is not None else 0
    if submission.old_size != current_size:
        return SizeConflict(current_size)
    if checkpoint.tree_size == 0 and not hmac.compare_digest(checkpoint.root_hash, EMPTY_ROOT):
        return Refuse(
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "a checkpoint of size 0 must have the empty tree's root, SHA-256 of nothing",
        )
    if submission.old_size == 0:
        if submission.proof:
            return Refuse(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "with old size 0 the consistency proof must be empty: the empty tree is "
                "consistent with every tree",
            )
    else:
        assert stored is not None  # old size == stored size > 0
        try:
            verify_consistency_path(
                old_size=stored.size,
                new_size=checkpoint.tree_size,
                path=submission.proof,
                old_root=stored.root_hash,
                new_root=checkpoint.root_hash,
            )
        except ConsistencyUnproven as error:
            return Refuse(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                f"the checkpoint at size {checkpoint.tree_size} is not proven to extend the one "
                f"this witness cosigned at size {stored.size}: {error.reason}",
            )
    return Cosign(LogState(checkpoint.origin, checkpoint.tree_size, checkpoint.root_hash))


def cosignature_lines(
    submission: Submission, *, name: str, private_key: Ed25519PrivateKey, timestamp: int
) -> bytes:
    """The 200 body: this witness's cosignature/v1 line over the checkpoint as submitted."""
    cosignature = cosign(
        submission.checkpoint_text, name=name, private_key=private_key, timestamp=timestamp
    )
    return encode_signature_line(cosignature.note_signature())
