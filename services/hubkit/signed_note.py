"""C2SP signed notes (c2sp.org/signed-note) and verifier keys, for any note text.

A signed note is a text ending in a newline, a blank line, then one or more signature lines

    — <key name> base64(key id (4 bytes, big-endian) || signature)

where key id = SHA-256(key name || 0x0A || signature type || public key)[:4]. A verifier key
(vkey) names one key: `<key name>+<hex key id>+base64(signature type || public key)`.

The audit log's own checkpoints (`services.audit.domain.checkpoint`) are notes whose text is a
checkpoint with the hub's timestamp line; the witness reads notes from any log, so it needs the
format without that assumption. Pure functions: keys are passed in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.hubkit.errors import NoteMalformed, NoteUnverified

__all__ = [
    "MAX_SIGNATURES",
    "SIGNATURE_TYPE_COSIGNATURE_V1",
    "SIGNATURE_TYPE_ED25519",
    "NoteSignature",
    "SignedNote",
    "VerifierKey",
    "check_key_name",
    "decode_b64",
    "decode_note",
    "decode_signature_lines",
    "decode_verifier_key",
    "encode_note",
    "encode_signature_line",
    "note_key_id",
    "verify_ed25519_note",
]

SIGNATURE_TYPE_ED25519 = 0x01  # signed-note: Ed25519 over the note text
SIGNATURE_TYPE_COSIGNATURE_V1 = 0x04  # tlog-cosignature: timestamped Ed25519 cosignature
_ED25519_KEY_SIZE = 32
_KEY_ID_SIZE = 4
_SIGNATURE_PREFIX = "\u2014 "  # em dash, space
# The spec asks verifiers to bound the signatures they read, and to accept at least 16.
MAX_SIGNATURES = 64


def check_key_name(name: str, what: str = "key name") -> None:
    """Key names (and so log origins, which name the log's key) are non-empty with no Unicode
    spaces, no '+' and no control characters: any of these would make a line ambiguous."""
    if not name:
        raise NoteMalformed(f"{what} is empty")
    for ch in name:
        if ch.isspace() or ch == "+" or unicodedata.category(ch) == "Cc":
            raise NoteMalformed(
                f"{what} {name!r} contains {ch!r}; key names may not contain spaces, '+' or "
                "control characters"
            )


def note_key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    """signed-note key id: SHA-256(key name || 0x0A || signature type || public key)[:4]."""
    material = name.encode() + b"\n" + bytes([signature_type]) + public_key
    return hashlib.sha256(material).digest()[:_KEY_ID_SIZE]


def decode_b64(text: str, what: str) -> bytes:
    """Standard base64 with padding (RFC 4648 §4), in its one canonical spelling: nothing
    else accepted (non-zero padding bits would let one signature have two texts)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteMalformed(f"{what} is not standard base64: {exc}") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteMalformed(f"{what} is not canonically base64-encoded")
    return raw


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: who (name and key id) and the signature bytes after the key id."""

    key_name: str
    key_id: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class SignedNote:
    """A note as read: its text (ending in a newline) and its signature lines, not yet trusted."""

    text: bytes
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A C2SP verifier key: the key name, its key id, signature type and public key bytes."""

    name: str
    key_id: bytes
    signature_type: int
    public_key: bytes

    @staticmethod
    def for_ed25519(name: str, signature_type: int, public_key: Ed25519PublicKey) -> VerifierKey:
        raw = public_key.public_bytes_raw()
        check_key_name(name)
        return VerifierKey(name, note_key_id(name, signature_type, raw), signature_type, raw)

    def encode(self) -> str:
        material = base64.b64encode(bytes([self.signature_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)


def decode_verifier_key(text: str) -> VerifierKey:
    """Parse `<name>+<hex key id>+<base64(type || key)>`; the key id must be the one the name,
    type and key give (so a mistyped or edited vkey is refused, not trusted)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteMalformed(
            f"verifier key {text.strip()!r} is not <name>+<hex key id>+<base64 key>"
        )
    name, id_hex, material_b64 = parts
    check_key_name(name, "verifier key name")
    try:
        key_id = bytes.fromhex(id_hex)
    except ValueError as exc:
        raise NoteMalformed(f"verifier key {name}: key id {id_hex!r} is not hex") from exc
    material = decode_b64(material_b64, f"verifier key {name}")
    if len(key_id) != _KEY_ID_SIZE or len(material) < 1:
        raise NoteMalformed(f"verifier key {name}: key id or key material has the wrong size")
    signature_type, public_key = material[0], material[1:]
    if signature_type in (SIGNATURE_TYPE_ED25519, SIGNATURE_TYPE_COSIGNATURE_V1) and (
        len(public_key) != _ED25519_KEY_SIZE
    ):
        raise NoteMalformed(
            f"verifier key {name}: an Ed25519 key is {_ED25519_KEY_SIZE} bytes, "
            f"not {len(public_key)}"
        )
    expected = note_key_id(name, signature_type, public_key)
    if not hmac.compare_digest(expected, key_id):
        raise NoteMalformed(
            f"verifier key {name}: key id {id_hex} is not the one its name and key give "
            f"({expected.hex()}); ask the key's owner for its verifier key again"
        )
    return VerifierKey(name, key_id, signature_type, public_key)


def _check_text(text: str, what: str) -> None:
    for ch in text:
        if ch != "\n" and unicodedata.category(ch) == "Cc":
            raise NoteMalformed(f"{what} contains the control character {ch!r}")


def encode_signature_line(signature: NoteSignature) -> bytes:
    encoded = base64.b64encode(signature.key_id + signature.signature).decode("ascii")
    return f"{_SIGNATURE_PREFIX}{signature.key_name} {encoded}\n".encode()


def _decode_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteMalformed(f"signature line {line[:80]!r} does not start with '— '")
    parts = line[len(_SIGNATURE_PREFIX) :].split(" ")
    if len(parts) != 2:
        raise NoteMalformed(f"signature line {line[:80]!r} is not '— <key name> <signature>'")
    name, encoded = parts
    check_key_name(name, "signature key name")
    raw = decode_b64(encoded, f"signature by {name}")
    if len(raw) <= _KEY_ID_SIZE:
        raise NoteMalformed(f"signature by {name} is too short to hold a key id")
    return NoteSignature(key_name=name, key_id=raw[:_KEY_ID_SIZE], signature=raw[_KEY_ID_SIZE:])


def decode_signature_lines(block: bytes) -> tuple[NoteSignature, ...]:
    """Signature lines alone, e.g. a witness's add-checkpoint answer (one or more lines)."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteMalformed(f"signature lines are not UTF-8: {exc}") from exc
    _check_text(text, "signature lines")
    if text in ("", "\n"):
        raise NoteMalformed("there are no signature lines: a note needs at least one")
    if not text.endswith("\n"):
        raise NoteMalformed("the last signature line does not end in a newline")
    lines = text[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteMalformed(
            f"{len(lines)} signatures, more than the {MAX_SIGNATURES} a verifier here accepts"
        )
    return tuple(_decode_signature_line(line) for line in lines)


def decode_note(data: bytes) -> SignedNote:
    """Parse a signed note. Parsing is not trusting: verify before using its text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NoteMalformed(f"signed note is not UTF-8: {exc}") from exc
    _check_text(text, "signed note")
    # The text is separated from the signatures by the note's last blank line.
    split = text.rfind("\n\n")
    if split < 0:
        raise NoteMalformed("signed note has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2 :]
    return SignedNote(text=body.encode(), signatures=decode_signature_lines(block.encode()))


def encode_note(note: SignedNote) -> bytes:
    """The note text, a blank line, then its signature lines."""
    return note.text + b"\n" + b"".join(encode_signature_line(s) for s in note.signatures)


def verify_ed25519_note(note: SignedNote, keys: Iterable[VerifierKey]) -> VerifierKey:
    """signed-note verification with trusted Ed25519 (type 0x01) keys: signatures by unknown
    keys are ignored; one by a known key (name and id) must verify, and at least one must.
    Returns the key that verified. Raises NoteUnverified otherwise."""
    trusted = [k for k in keys if k.signature_type == SIGNATURE_TYPE_ED25519]
    verified: VerifierKey | None = None
    for signature in note.signatures:
        for key in trusted:
            if signature.key_name != key.name or not hmac.compare_digest(
                signature.key_id, key.key_id
            ):
                continue
            try:
                key.ed25519().verify(signature.signature, note.text)
            except InvalidSignature as exc:
                raise NoteUnverified(
                    f"the signature by {key.name}+{key.key_id.hex()} does not verify: the note "
                    "was altered after signing or the signature is corrupt; do not trust it"
                ) from exc
            verified = verified or key
    if verified is None:
        names = ", ".join(f"{k.name}+{k.key_id.hex()}" for k in trusted) or "none configured"
        raise NoteUnverified(
            f"no signature by a trusted key ({names}); check that the log's current verifier "
            "key is configured"
        )
    return verified
