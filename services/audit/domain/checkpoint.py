"""Signed checkpoints: the audit log's commitments to a tree size and root, and the checks a
monitor runs between them (consistency, split view, truncation).

A checkpoint body follows C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint); these are the bytes
that are signed. Each line ends in a newline (0x0A):

    safehub.audit.v1                  origin: names the log, and is the signing key's name
    1234                              tree size, ASCII decimal, no sign, no leading zeros
    <base64 root hash>                RFC 9162 root at that size, standard base64 with padding
    timestamp-ms: 1717171717000       signing time, ms since the Unix epoch (UTC)

The timestamp is the one extension line; decoding accepts no other, so the encoding of a
checkpoint is unique. A signed checkpoint travels as a C2SP signed note (c2sp.org/signed-note):
the body, a blank line, then one line per signature

    — <key name> base64(key id (4 bytes) || Ed25519 signature (64 bytes))

where key id = SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4].

Pure functions: the clock value and the private key are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.domain.errors import (
    CheckpointMalformed,
    CheckpointOriginMismatch,
    CheckpointSignatureInvalid,
    ConsistencyProofInvalid,
    InclusionProofInvalid,
    LogTruncated,
    SplitViewDetected,
)
from services.audit.domain.merkle import (
    HASH_SIZE,
    ConsistencyProof,
    InclusionProof,
    verify_consistency,
    verify_inclusion,
)
from services.hubkit.errors import NoteMalformed
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_ED25519,
    NoteSignature,
    SignedNote,
    check_key_name,
    decode_note,
    encode_note,
    note_key_id,
)

__all__ = [
    "AUDIT_LOG_ORIGIN",
    "Checkpoint",
    "NoteSignature",
    "SignedCheckpoint",
    "check_consistency",
    "check_inclusion",
    "check_split_view",
    "decode_checkpoint",
    "decode_signed_note",
    "encode_checkpoint",
    "encode_signed_note",
    "key_id",
    "sign_checkpoint",
    "verify_checkpoint",
]

AUDIT_LOG_ORIGIN = "safehub.audit.v1"

_UINT64_MAX = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TIMESTAMP_PREFIX = "timestamp-ms: "
_T = TypeVar("_T")


def _as_checkpoint_error(parse: Callable[[], _T]) -> _T:
    """Run a signed-note step (services/hubkit/signed_note.py, shared with the witness) and
    report its format errors as this log's CheckpointMalformed, with the same reason."""
    try:
        return parse()
    except NoteMalformed as error:
        raise CheckpointMalformed(error.reason) from error


def _check_key_name(name: str, what: str) -> None:
    _as_checkpoint_error(lambda: check_key_name(name, what))
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointMalformed(f"{what} {name!r} is not valid Unicode text") from exc


def _check_uint64(value: int, what: str) -> None:
    if not 0 <= value <= _UINT64_MAX:
        raise CheckpointMalformed(f"{what} {value} is outside 0..2**64-1")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log's statement: after `tree_size` records its Merkle root is `root_hash`."""

    origin: str
    tree_size: int
    root_hash: bytes
    timestamp_ms: int

    def __post_init__(self) -> None:
        _check_key_name(self.origin, "checkpoint origin")
        _check_uint64(self.tree_size, "tree size")
        _check_uint64(self.timestamp_ms, "timestamp_ms")
        if len(self.root_hash) != HASH_SIZE:
            raise CheckpointMalformed(
                f"root hash is {len(self.root_hash)} bytes, not a {HASH_SIZE}-byte SHA-256 hash"
            )


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint with its signature lines, as read from a note: not yet trusted."""

    checkpoint: Checkpoint
    signatures: tuple[NoteSignature, ...]


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    """The canonical body of a checkpoint: the exact bytes that are signed."""
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    return (
        f"{checkpoint.origin}\n{checkpoint.tree_size}\n{root}\n"
        f"{_TIMESTAMP_PREFIX}{checkpoint.timestamp_ms}\n"
    ).encode()


def _decode_uint64(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text):
        raise CheckpointMalformed(
            f"{what} {text!r} is not ASCII decimal without sign or leading zeros"
        )
    value = int(text)
    _check_uint64(value, what)
    return value


def _decode_base64(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CheckpointMalformed(f"{what} is not standard base64: {exc}") from exc
    # Refuse other spellings of the same bytes (e.g. non-zero padding bits).
    if base64.b64encode(raw).decode("ascii") != text:
        raise CheckpointMalformed(f"{what} is not canonically base64-encoded")
    return raw


def _decode_text(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointMalformed(f"{what} is not valid UTF-8: {exc}") from exc
    for ch in text:
        if ch != "\n" and unicodedata.category(ch) == "Cc":
            raise CheckpointMalformed(f"{what} contains the control character {ch!r}")
    return text


def decode_checkpoint(body: bytes) -> Checkpoint:
    """Parse a checkpoint body strictly; the inverse of `encode_checkpoint`."""
    text = _decode_text(body, "checkpoint body")
    if not text.endswith("\n"):
        raise CheckpointMalformed("checkpoint body does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) != 4:
        raise CheckpointMalformed(
            f"checkpoint body has {len(lines)} lines; expected origin, tree size, root hash "
            "and timestamp"
        )
    origin, size_line, root_line, timestamp_line = lines
    if not timestamp_line.startswith(_TIMESTAMP_PREFIX):
        raise CheckpointMalformed(f"fourth line {timestamp_line!r} is not {_TIMESTAMP_PREFIX!r}…")
    return Checkpoint(
        origin=origin,
        tree_size=_decode_uint64(size_line, "tree size"),
        root_hash=_decode_base64(root_line, "root hash"),
        timestamp_ms=_decode_uint64(timestamp_line[len(_TIMESTAMP_PREFIX) :], "timestamp_ms"),
    )


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """C2SP signed-note key id: SHA-256(key name || 0x0A || 0x01 || public key)[:4]."""
    return note_key_id(key_name, SIGNATURE_TYPE_ED25519, public_key.public_bytes_raw())


def sign_checkpoint(checkpoint: Checkpoint, private_key: Ed25519PrivateKey) -> SignedCheckpoint:
    """Sign a checkpoint with the log's key, named after the log's origin."""
    signature = NoteSignature(
        key_name=checkpoint.origin,
        key_id=key_id(checkpoint.origin, private_key.public_key()),
        signature=private_key.sign(encode_checkpoint(checkpoint)),
    )
    return SignedCheckpoint(checkpoint=checkpoint, signatures=(signature,))


def verify_checkpoint(signed: SignedCheckpoint, public_key: Ed25519PublicKey) -> Checkpoint:
    """Return the checkpoint once the log's key (named after its origin) has signed it.

    Signatures by other keys (e.g. witnesses) are ignored, as C2SP signed-note requires. Raises
    CheckpointSignatureInvalid if the log's key has not signed, or its signature fails.
    """
    checkpoint = signed.checkpoint
    expected_id = key_id(checkpoint.origin, public_key)
    ours = [
        s
        for s in signed.signatures
        if s.key_name == checkpoint.origin and hmac.compare_digest(s.key_id, expected_id)
    ]
    if not ours:
        seen = ", ".join(f"{s.key_name}+{s.key_id.hex()}" for s in signed.signatures) or "none"
        raise CheckpointSignatureInvalid(
            f"checkpoint of {checkpoint.origin!r} at size {checkpoint.tree_size} has no "
            f"signature by key {checkpoint.origin}+{expected_id.hex()} (signed by: {seen}); "
            "check that you hold the log's current public key"
        )
    body = encode_checkpoint(checkpoint)
    for s in ours:
        try:
            public_key.verify(s.signature, body)
        except InvalidSignature as exc:
            raise CheckpointSignatureInvalid(
                f"signature by key {s.key_name}+{s.key_id.hex()} does not verify over the "
                f"checkpoint of {checkpoint.origin!r} at size {checkpoint.tree_size}: the "
                "checkpoint was altered after signing or the signature is corrupt; do not "
                "trust it"
            ) from exc
    return checkpoint


def encode_signed_note(signed: SignedCheckpoint) -> bytes:
    """The C2SP signed note: checkpoint body, blank line, signature lines."""
    return encode_note(SignedNote(encode_checkpoint(signed.checkpoint), signed.signatures))


def decode_signed_note(note: bytes) -> SignedCheckpoint:
    """Parse a signed note holding a checkpoint. Parsing is not trusting: call
    `verify_checkpoint` before using the result."""
    parsed = _as_checkpoint_error(lambda: decode_note(note))
    return SignedCheckpoint(checkpoint=decode_checkpoint(parsed.text), signatures=parsed.signatures)


def check_split_view(first: Checkpoint, second: Checkpoint) -> None:
    """Raise SplitViewDetected if two verified checkpoints of one log disagree on the root of
    the same tree size: the log has shown different histories to different readers."""
    if first.origin != second.origin:
        raise CheckpointOriginMismatch(first, second)
    if first.tree_size == second.tree_size and not hmac.compare_digest(
        first.root_hash, second.root_hash
    ):
        raise SplitViewDetected(first, second)


def check_consistency(old: Checkpoint, new: Checkpoint, proof: ConsistencyProof) -> None:
    """Check that verified checkpoint `new` extends verified checkpoint `old` (RFC 9162 §2.1.4.2).

    Raises LogTruncated if `new` is smaller, SplitViewDetected if both have the same size but
    different roots, and ConsistencyProofInvalid if the proof does not fit or does not verify.
    """
    if old.origin != new.origin:
        raise CheckpointOriginMismatch(old, new)
    if new.tree_size < old.tree_size:
        raise LogTruncated(old, new)
    check_split_view(old, new)
    if (proof.old_size, proof.new_size) != (old.tree_size, new.tree_size):
        raise ConsistencyProofInvalid(
            f"the proof is from size {proof.old_size} to {proof.new_size}, but the checkpoints "
            f"are at sizes {old.tree_size} and {new.tree_size}; ask the log for the proof "
            "between these two sizes"
        )
    verify_consistency(proof, old_root=old.root_hash, new_root=new.root_hash)


def check_inclusion(checkpoint: Checkpoint, proof: InclusionProof, *, leaf_hash: bytes) -> None:
    """Check that a record's leaf hash is in the tree a verified checkpoint commits to
    (RFC 9162 §2.1.3.2), binding the proof's tree size to the signed one."""
    if proof.tree_size != checkpoint.tree_size:
        raise InclusionProofInvalid(
            f"the proof is for tree size {proof.tree_size}, but the checkpoint is at size "
            f"{checkpoint.tree_size}; ask the log for a proof at the checkpoint's size"
        )
    verify_inclusion(proof, leaf_hash=leaf_hash, root_hash=checkpoint.root_hash)
