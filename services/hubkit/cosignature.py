"""C2SP tlog-cosignature/v1 with Ed25519 (c2sp.org/tlog-cosignature): a witness's statement
that, at a time, the largest consistent tree it has seen for a log has this root.

Signed message (the cosigner's name is *not* in it, so one key serves one witness name only):

    cosignature/v1
    time <POSIX seconds, ASCII decimal>
    <the checkpoint's note text, including its final newline>

Signature line: `— <witness name> base64(key id || u64 big-endian timestamp || 64-byte Ed25519
signature)`, key id = SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4] (type 0x04,
not the 0x01 of a plain note signature). Pure: key and time are passed in.
"""

from __future__ import annotations

import hmac
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.hubkit.errors import NoteMalformed, NoteUnverified
from services.hubkit.signed_note import (
    SIGNATURE_TYPE_COSIGNATURE_V1,
    NoteSignature,
    VerifierKey,
    check_key_name,
)

__all__ = [
    "Cosignature",
    "cosign",
    "cosignature_message",
    "cosigner_verifier_key",
    "decode_cosignature",
    "verified_cosigners",
    "verify_cosignature",
]

_HEADER = b"cosignature/v1\n"
_ED25519_SIGNATURE_SIZE = 64
_TIMESTAMP = struct.Struct(">Q")
_TIMESTAMP_MAX = 2**63 - 1


def cosigner_verifier_key(name: str, public_key: Ed25519PublicKey) -> VerifierKey:
    """The witness's vkey (type 0x04): what logs and partners configure to check it."""
    return VerifierKey.for_ed25519(name, SIGNATURE_TYPE_COSIGNATURE_V1, public_key)


def cosignature_message(checkpoint_text: bytes, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature/v1 signs."""
    return _HEADER + f"time {timestamp}\n".encode() + checkpoint_text


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A cosignature/v1 signature line, decoded."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def note_signature(self) -> NoteSignature:
        return NoteSignature(
            key_name=self.name,
            key_id=self.key_id,
            signature=_TIMESTAMP.pack(self.timestamp) + self.signature,
        )


def _check_timestamp(timestamp: int) -> None:
    # tlog-witness: the timestamp MUST NOT be zero; tlog-cosignature: at most 2**63 - 1.
    if not 0 < timestamp <= _TIMESTAMP_MAX:
        raise NoteMalformed(f"cosignature timestamp {timestamp} is outside 1..2**63-1")


def cosign(
    checkpoint_text: bytes, *, name: str, private_key: Ed25519PrivateKey, timestamp: int
) -> Cosignature:
    """Cosign a checkpoint's note text at `timestamp` (POSIX seconds)."""
    check_key_name(name, "witness name")
    _check_timestamp(timestamp)
    key = cosigner_verifier_key(name, private_key.public_key())
    signature = private_key.sign(cosignature_message(checkpoint_text, timestamp))
    return Cosignature(name=name, key_id=key.key_id, timestamp=timestamp, signature=signature)


def decode_cosignature(signature: NoteSignature) -> Cosignature:
    """Split a note signature into timestamp and Ed25519 signature (72 bytes after the key id)."""
    if len(signature.signature) != _TIMESTAMP.size + _ED25519_SIGNATURE_SIZE:
        raise NoteMalformed(
            f"cosignature by {signature.key_name} is {len(signature.signature)} bytes after its "
            f"key id, not {_TIMESTAMP.size + _ED25519_SIGNATURE_SIZE} (timestamp and signature)"
        )
    (timestamp,) = _TIMESTAMP.unpack(signature.signature[: _TIMESTAMP.size])
    _check_timestamp(timestamp)
    return Cosignature(
        name=signature.key_name,
        key_id=signature.key_id,
        timestamp=timestamp,
        signature=signature.signature[_TIMESTAMP.size :],
    )


def verify_cosignature(
    checkpoint_text: bytes, signature: NoteSignature, key: VerifierKey
) -> Cosignature:
    """Check one signature line against a trusted witness key (type 0x04). Raises NoteUnverified
    if the line is not by that key or does not verify over this checkpoint."""
    if key.signature_type != SIGNATURE_TYPE_COSIGNATURE_V1:
        raise NoteUnverified(
            f"verifier key {key.name} has signature type {key.signature_type:#04x}, not a "
            "cosignature/v1 key (0x04)"
        )
    if signature.key_name != key.name or not hmac.compare_digest(signature.key_id, key.key_id):
        raise NoteUnverified(
            f"the signature line is by {signature.key_name}+{signature.key_id.hex()}, not by "
            f"the witness {key.name}+{key.key_id.hex()}"
        )
    cosignature = decode_cosignature(signature)
    message = cosignature_message(checkpoint_text, cosignature.timestamp)
    try:
        key.ed25519().verify(cosignature.signature, message)
    except InvalidSignature as exc:
        raise NoteUnverified(
            f"the cosignature by {key.name}+{key.key_id.hex()} does not verify over this "
            "checkpoint: it was made for another checkpoint or altered"
        ) from exc
    return cosignature


def verified_cosigners(
    checkpoint_text: bytes,
    signatures: Iterable[NoteSignature],
    witnesses: Mapping[str, VerifierKey],
) -> dict[str, Cosignature]:
    """The witnesses (by the verifier's own name for each) with a cosignature that verifies
    over this checkpoint text. Lines by keys not in `witnesses` (the log's own, other
    witnesses') are ignored, as signed-note requires; a line by a listed key that fails does
    not count. The one count behind a witness quorum, for the hub's policy and a receipt's."""
    by_key = {(key.name, key.key_id): name for name, key in witnesses.items()}
    verified: dict[str, Cosignature] = {}
    for signature in signatures:
        name = by_key.get((signature.key_name, signature.key_id))
        if name is None:
            continue
        try:
            verified[name] = verify_cosignature(checkpoint_text, signature, witnesses[name])
        except (NoteMalformed, NoteUnverified):
            continue
    return verified
