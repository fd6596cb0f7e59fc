"""C2SP tlog-proof (c2sp.org/tlog-proof): an offline-verifiable proof that an entry is in a
transparency log and that witnesses observed the checkpoint it is proven against.

    c2sp.org/tlog-proof@v1
    [extra <base64>]             optional, opaque, NOT authenticated
    index <N>                    zero-based leaf index, ASCII decimal, no leading zeros
    <base64 hash>                zero or more: the RFC 6962 inclusion path, leaf's sibling first
    ...
    <empty line>
    <checkpoint>                 the log's signed note, verbatim, cosignatures included

Anyone holding the log's verifier key and the witnesses' keys checks it without asking the log:
`verify_tlog_proof` follows the specification's "Verifying a tlog proof" steps 1-4 (leaf hash,
origin and log signature, cosignatures against a quorum, inclusion), each cited where it is done.
The hub's audit log issues these as receipts for a decision (`services.audit.receipts`).

Pure functions over bytes: no I/O, no clock.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from services.hubkit.cosignature import verified_cosigners
from services.hubkit.errors import (
    NoteMalformed,
    NoteUnverified,
    WitnessQuorumUnmet,
)
from services.hubkit.merkle import HASH_SIZE, leaf_hash, verify_inclusion_path
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_ED25519,
    VerifierKey,
    decode_b64,
    decode_note,
    verify_ed25519_note,
)
from services.hubkit.tlog_checkpoint import TlogCheckpoint, decode_checkpoint_text, decode_decimal

__all__ = [
    "TLOG_PROOF_HEADER",
    "TLOG_PROOF_SUFFIX",
    "TlogProof",
    "TlogProofVerified",
    "decode_tlog_proof",
    "encode_tlog_proof",
    "verify_tlog_proof",
]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
TLOG_PROOF_SUFFIX = ".tlog-proof"  # tlog-proof: "SHOULD be stored with file extension"
_EXTRA = "extra "
_INDEX = "index "


@dataclass(frozen=True, slots=True)
class TlogProof:
    """A parsed tlog-proof. `checkpoint` is the signed note exactly as it appears in the file
    (the log's signature and any cosignatures); nothing here is trusted until verified."""

    index: int
    path: tuple[bytes, ...]
    checkpoint: bytes
    extra: bytes | None = None


@dataclass(frozen=True, slots=True)
class TlogProofVerified:
    """What a proof proved: leaf `index` is in `checkpoint`'s tree, signed by `log_key` and
    cosigned by `witnesses` (policy names, sorted), which met the verifier's quorum."""

    index: int
    checkpoint: TlogCheckpoint
    log_key: VerifierKey
    witnesses: tuple[str, ...]


def encode_tlog_proof(proof: TlogProof) -> bytes:
    """The file text (tlog-proof "Format"). The checkpoint is written verbatim."""
    lines = [TLOG_PROOF_HEADER]
    if proof.extra is not None:
        lines.append(_EXTRA + base64.b64encode(proof.extra).decode("ascii"))
    lines.append(f"{_INDEX}{proof.index}")
    lines += [base64.b64encode(h).decode("ascii") for h in proof.path]
    return ("\n".join(lines) + "\n\n").encode("ascii") + proof.checkpoint


def _malformed(number: int, reason: str) -> NoteMalformed:
    return NoteMalformed(f"tlog-proof line {number}: {reason}")


def decode_tlog_proof(data: bytes) -> TlogProof:
    """Parse a tlog-proof strictly. Raises NoteMalformed naming the line at fault; parsing is
    not trusting (verify with `verify_tlog_proof`)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteMalformed(f"tlog-proof is not UTF-8: {exc}") from exc
    lines = text.split("\n")
    # Format: "The first line MUST be the string `c2sp.org/tlog-proof@v1`."
    if lines[0] != TLOG_PROOF_HEADER:
        raise _malformed(1, f"expected {TLOG_PROOF_HEADER!r}, found {lines[0][:60]!r}")
    number = 1
    extra = None
    # Format: "The second line MAY start with the string `extra` followed by a space".
    if len(lines) > number and lines[number].startswith(_EXTRA):
        extra = _field(lines[number], number + 1, _EXTRA, "extra data")
        number += 1
    # Format: "The next line MUST start with the string `index` followed by a space".
    if len(lines) <= number or not lines[number].startswith(_INDEX):
        found = lines[number][:60] if len(lines) > number else "the end of the file"
        raise _malformed(number + 1, f"expected 'index <N>', found {found!r}")
    try:
        index = decode_decimal(lines[number][len(_INDEX) :], "the leaf index")
    except NoteMalformed as error:
        raise _malformed(number + 1, error.reason) from error
    number += 1
    # Format: "The next zero or more non-empty lines are the base64-encoded Merkle inclusion
    # proof ... one SHA-256 hash per line", then "an empty line".
    path: list[bytes] = []
    while True:
        if len(lines) <= number:
            raise _malformed(number + 1, "the file ends before the empty line and the checkpoint")
        if not lines[number]:
            break
        digest = _field(lines[number], number + 1, "", "an inclusion proof hash")
        if len(digest) != HASH_SIZE:
            raise _malformed(
                number + 1, f"an inclusion proof hash is {len(digest)} bytes, not {HASH_SIZE}"
            )
        path.append(digest)
        number += 1
    number += 1  # the empty line
    # Format: "the checkpoint issued by the log is included verbatim".
    checkpoint = "\n".join(lines[number:]).encode("utf-8")
    try:
        note = decode_note(checkpoint)
        decode_checkpoint_text(note.text)
    except NoteMalformed as error:
        raise _malformed(number + 1, f"the checkpoint: {error.reason}") from error
    return TlogProof(index=index, path=tuple(path), checkpoint=checkpoint, extra=extra)


def _field(line: str, number: int, prefix: str, what: str) -> bytes:
    try:
        return decode_b64(line[len(prefix) :], what)
    except NoteMalformed as error:
        raise _malformed(number, error.reason) from error


def verify_tlog_proof(
    proof: TlogProof,
    *,
    entry: bytes,
    log_keys: Collection[VerifierKey],
    witnesses: Mapping[str, VerifierKey],
    quorum_met: Callable[[frozenset[str]], bool],
) -> TlogProofVerified:
    """Verify a proof for `entry` (the leaf input: the exact bytes the log hashed) against the
    logs the verifier trusts (`log_keys`: Ed25519 keys named after their origin, as C2SP
    checkpoints name theirs) and its witnesses (policy name -> cosignature/v1 key), whose
    verified names must satisfy `quorum_met` (e.g. tlog-policy's quorum).

    Raises NoteMalformed (the checkpoint), NoteUnverified (origin or log signature),
    WitnessQuorumUnmet (cosignatures) or InclusionUnproven (the leaf), each with a reason."""
    # Step 1: "Compute the leaf hash." For an RFC 9162 log: SHA-256(0x00 || entry).
    digest = leaf_hash(entry)

    # Step 2: "Check that the checkpoint origin line is acceptable, and that the checkpoint is
    # signed by a log public key configured for that origin line."
    note = decode_note(proof.checkpoint)
    checkpoint = decode_checkpoint_text(note.text)
    for_origin = [
        k
        for k in log_keys
        if k.name == checkpoint.origin and k.signature_type == SIGNATURE_TYPE_ED25519
    ]
    if not for_origin:
        known = ", ".join(sorted({k.name for k in log_keys})) or "none"
        raise NoteUnverified(
            f"the checkpoint is from log {checkpoint.origin!r}, which the policy does not list "
            f"(it lists: {known}); this receipt is not from a log you trust"
        )
    log_key = verify_ed25519_note(note, for_origin)

    # Step 3: "Verify all cosignatures for witnesses known to the verifier", then the policy.
    # Lines by unknown keys are ignored; a line by a known key that fails does not count.
    cosigned = set(verified_cosigners(note.text, note.signatures, witnesses))
    if not quorum_met(frozenset(cosigned)):
        names = ", ".join(sorted(cosigned)) or "no witness"
        raise WitnessQuorumUnmet(
            f"the checkpoint at size {checkpoint.tree_size} is cosigned by {names}, which does "
            "not meet the policy's quorum: do not rely on it; ask the hub for a receipt "
            "against a checkpoint its witnesses cosigned"
        )

    # Step 4: "Check that the inclusion proof is valid, to bind the leaf hash computed in step 1
    # to the root hash of the signed checkpoint" (RFC 9162 §2.1.3.2).
    verify_inclusion_path(
        leaf_index=proof.index,
        tree_size=checkpoint.tree_size,
        path=proof.path,
        leaf_hash=digest,
        root_hash=checkpoint.root_hash,
    )
    return TlogProofVerified(
        index=proof.index,
        checkpoint=checkpoint,
        log_key=log_key,
        witnesses=tuple(sorted(cosigned)),
    )
