"""The wire format of C2SP tlog-witness `add-checkpoint` (c2sp.org/tlog-witness): what a log
sends a witness and what comes back, without the decision (`services.witness.domain`).

Request body (every line ends in a newline):

    old <size of the checkpoint the client believes the witness last cosigned>
    <base64 consistency proof hash>     zero to 63 lines, RFC 6962 §2.1.2 from old to new size
    <empty line>
    <the signed checkpoint note>

Answers: 200 with cosignature lines; 409 with the witness's size (`text/x.tlog.size`); 400, 403,
404, 422 (see the witness). Pure.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from services.hubkit.errors import NoteMalformed
from services.hubkit.merkle import HASH_SIZE
from services.hubkit.signed_note import decode_b64
from services.hubkit.tlog_checkpoint import decode_decimal

__all__ = [
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "decode_add_checkpoint",
    "decode_size",
    "encode_add_checkpoint",
    "encode_size",
]

MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"
_OLD_PREFIX = "old "


@dataclass(frozen=True, slots=True)
class AddCheckpoint:
    """An add-checkpoint request: the old size, the proof from it, and the signed note."""

    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


def encode_add_checkpoint(request: AddCheckpoint) -> bytes:
    lines = [f"{_OLD_PREFIX}{request.old_size}"]
    lines += [base64.b64encode(h).decode("ascii") for h in request.proof]
    return ("\n".join(lines) + "\n\n").encode() + request.note


def decode_add_checkpoint(body: bytes) -> AddCheckpoint:
    """Parse a request body strictly; NoteMalformed (an HTTP 400) when it breaks the format."""
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise NoteMalformed("request has no empty line between the old size and proof and the note")
    try:
        lines = head.decode("ascii").split("\n")
    except UnicodeDecodeError as exc:
        raise NoteMalformed("the old size and proof lines must be ASCII") from exc
    first, proof_lines = lines[0], lines[1:]
    if not first.startswith(_OLD_PREFIX):
        raise NoteMalformed(f"first line {first[:40]!r} is not 'old <size>'")
    old_size = decode_decimal(first[len(_OLD_PREFIX) :], "old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise NoteMalformed(
            f"{len(proof_lines)} consistency proof lines, more than the {MAX_PROOF_LINES} allowed"
        )
    proof = tuple(decode_b64(line, f"proof line {i + 1}") for i, line in enumerate(proof_lines))
    for i, node in enumerate(proof):
        if len(node) != HASH_SIZE:
            raise NoteMalformed(
                f"proof line {i + 1} is {len(node)} bytes, not a {HASH_SIZE}-byte hash"
            )
    return AddCheckpoint(old_size=old_size, proof=proof, note=note)


def encode_size(size: int) -> bytes:
    """The body of a 409: the witness's latest cosigned size, then a newline."""
    return f"{size}\n".encode()


def decode_size(body: bytes) -> int:
    text = body.decode("ascii", errors="replace")
    if not text.endswith("\n"):
        raise NoteMalformed("a text/x.tlog.size body is a decimal size ending in a newline")
    return decode_decimal(text[:-1], "witness tree size")
