"""Signed envelopes: Ed25519 signatures over single-object-encoded payloads.

Signing input (domain-separated, so a signature can't be replayed under other metadata):
    b"safehub.envelope.v1\\x00" + key_id + b"\\x00" + signed_at_ms (8 bytes, big-endian) + payload

Keys: each signer (an adapter principal, the hub itself) has one Ed25519 key. Private keys
are PEM files with mode 0600 under `<keys_dir>/private/`; the trusted key directory is
`<keys_dir>/trusted/<key_id>.json` holding the owner and the raw public key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import BadSignature, UnknownSigningKey
from services.hubkit.private_files import ensure_private, pkcs8_pem, private_dir, write_atomically

__all__ = [
    "KeyDirectory",
    "SigningKey",
    "VerifiedEnvelope",
    "load_signing_key",
    "open_envelope",
    "provision_keys",
    "seal",
]

_DOMAIN = b"safehub.envelope.v1\x00"


def _signing_input(key_id: str, signed_at_ms: int, payload: bytes) -> bytes:
    return _DOMAIN + key_id.encode() + b"\x00" + struct.pack(">q", signed_at_ms) + payload


@dataclass(frozen=True, slots=True)
class SigningKey:
    owner: str
    key_id: str
    private_key: Ed25519PrivateKey

    @staticmethod
    def generate(owner: str) -> SigningKey:
        private_key = Ed25519PrivateKey.generate()
        return SigningKey(owner, _key_id(owner, private_key.public_key()), private_key)


def _key_id(owner: str, public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{owner}:{hashlib.sha256(raw).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class TrustedKey:
    owner: str
    public_key: Ed25519PublicKey


class KeyDirectory:
    """Public keys the verifier trusts, by key id."""

    def __init__(self, keys: dict[str, TrustedKey]) -> None:
        self._keys = dict(keys)

    @staticmethod
    def load(trusted_dir: Path) -> KeyDirectory:
        keys: dict[str, TrustedKey] = {}
        for path in sorted(trusted_dir.glob("*.json")):
            entry = json.loads(path.read_text())
            public_key = Ed25519PublicKey.from_public_bytes(base64.b64decode(entry["public_key"]))
            keys[entry["key_id"]] = TrustedKey(entry["owner"], public_key)
        return KeyDirectory(keys)

    @staticmethod
    def of(keys: Iterable[SigningKey]) -> KeyDirectory:
        return KeyDirectory(
            {k.key_id: TrustedKey(k.owner, k.private_key.public_key()) for k in keys}
        )

    def get(self, key_id: str) -> TrustedKey:
        try:
            return self._keys[key_id]
        except KeyError:
            raise UnknownSigningKey(key_id) from None


@dataclass(frozen=True, slots=True)
class VerifiedEnvelope:
    payload: bytes
    key_id: str
    owner: str
    signed_at: dt.datetime
    field_provenance: str | None = None
    """The envelope's per-field SD-JWT as read, NOT verified here (it carries its own
    signature; the reader checks it with hubkit.field_provenance). None from a publisher
    that signs no fields."""


def seal(
    catalog: SchemaCatalog,
    payload: bytes,
    key: SigningKey,
    signed_at: dt.datetime,
    *,
    field_provenance: str | None = None,
) -> bytes:
    """Sign a single-object-encoded payload and wrap it in an encoded SignedEnvelope.

    `field_provenance` is a notice's per-field SD-JWT (hubkit.field_provenance), signed by
    the same key; it has its own signature, so the envelope's does not cover it."""
    signed_at_ms = int(signed_at.timestamp() * 1000)
    signature = key.private_key.sign(_signing_input(key.key_id, signed_at_ms, payload))
    envelope: dict[str, Any] = {
        "payload": payload,
        "key_id": key.key_id,
        "signed_at": signed_at_ms,
        "signature": signature,
        "field_provenance": field_provenance,
    }
    return catalog.encode(MessageType.ENVELOPE, envelope)


def open_envelope(catalog: SchemaCatalog, data: bytes, keys: KeyDirectory) -> VerifiedEnvelope:
    """Decode and verify; raises a CodecError or EnvelopeError subclass on any failure."""
    envelope = catalog.decode(data, MessageType.ENVELOPE)
    key_id: str = envelope["key_id"]
    trusted = keys.get(key_id)
    signed_at: dt.datetime = envelope["signed_at"]
    signed_at_ms = int(signed_at.timestamp() * 1000)
    try:
        trusted.public_key.verify(
            envelope["signature"], _signing_input(key_id, signed_at_ms, envelope["payload"])
        )
    except InvalidSignature:
        raise BadSignature(key_id) from None
    return VerifiedEnvelope(
        envelope["payload"], key_id, trusted.owner, signed_at, envelope.get("field_provenance")
    )


def provision_keys(keys_dir: Path, owners: Iterable[str]) -> None:
    """Create a key for every owner that lacks one and publish its public half. Idempotent.

    The public half is always derived from the private key on disk, so when two processes
    provision at once the one whose key won `create_private` is the one published."""
    private_keys = private_dir(keys_dir / "private")
    trusted_dir = keys_dir / "trusted"
    trusted_dir.mkdir(parents=True, exist_ok=True)
    for owner in owners:
        pem = ensure_private(
            private_keys / f"{owner}.pem", lambda: pkcs8_pem(Ed25519PrivateKey.generate())
        )
        key = _signing_key_from_pem(owner, pem)
        raw = key.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        entry = {"key_id": key.key_id, "owner": owner, "public_key": base64.b64encode(raw).decode()}
        text = json.dumps(entry, indent=2) + "\n"
        published = trusted_dir / f"{owner}.json"
        if not published.exists() or published.read_text() != text:
            write_atomically(published, text)


def load_signing_key(keys_dir: Path, owner: str) -> SigningKey:
    return _signing_key_from_pem(owner, (keys_dir / "private" / f"{owner}.pem").read_bytes())


def _signing_key_from_pem(owner: str, pem: bytes) -> SigningKey:
    private_key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private_key, Ed25519PrivateKey):
        raise TypeError(f"key for {owner} is not Ed25519")
    return SigningKey(owner, _key_id(owner, private_key.public_key()), private_key)
