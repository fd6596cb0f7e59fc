"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the text a log signs to commit to a tree.

    <origin>            names the log (and, by convention, its signing key)
    <tree size>         ASCII decimal, no sign, no leading zeros
    <root hash>         base64 of the RFC 6962 / RFC 9162 root at that size
    [extension lines]   optional, opaque, non-empty

Any log's checkpoints, not only the hub's (whose one extension line is `timestamp-ms: ...`,
`services.audit.domain.checkpoint`). Pure.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from services.hubkit.errors import NoteMalformed
from services.hubkit.merkle import HASH_SIZE
from services.hubkit.signed_note import decode_b64

__all__ = ["TlogCheckpoint", "decode_checkpoint_text", "decode_decimal", "encode_checkpoint_text"]

_UINT64_MAX = 2**64 - 1
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def decode_decimal(text: str, what: str) -> int:
    """An unsigned 64-bit ASCII decimal with no leading zeros (the C2SP size encoding)."""
    if not _DECIMAL.fullmatch(text) or int(text) > _UINT64_MAX:
        raise NoteMalformed(
            f"{what} {text[:40]!r} is not ASCII decimal in 0..2**64-1 without sign or leading zeros"
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class TlogCheckpoint:
    """A log's statement: after `tree_size` leaves its Merkle root is `root_hash`."""

    origin: str
    tree_size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def encode_checkpoint_text(checkpoint: TlogCheckpoint) -> bytes:
    root = base64.b64encode(checkpoint.root_hash).decode("ascii")
    lines = [checkpoint.origin, str(checkpoint.tree_size), root, *checkpoint.extensions]
    return ("\n".join(lines) + "\n").encode()


def decode_checkpoint_text(text: bytes) -> TlogCheckpoint:
    """Parse a checkpoint (the note text, signatures already split off)."""
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteMalformed(f"checkpoint is not UTF-8: {exc}") from exc
    if not decoded.endswith("\n"):
        raise NoteMalformed("checkpoint does not end in a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3 or any(not line for line in lines):
        raise NoteMalformed(
            "a checkpoint is at least three non-empty lines: origin, tree size, root hash"
        )
    origin, size_line, root_line, *extensions = lines
    root = decode_b64(root_line, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise NoteMalformed(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    return TlogCheckpoint(
        origin=origin,
        tree_size=decode_decimal(size_line, "checkpoint tree size"),
        root_hash=root,
        extensions=tuple(extensions),
    )
