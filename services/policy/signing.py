"""The information-governance bundle signing key: generated once, kept under the data dir.

ECDSA P-256 (JWS `ES256`), which OPA verifies natively (`keys.<id>.algorithm: ES256`). The
private key never leaves `<keys_dir>/policy/` (mode 0600; `var/` is not in git); OPA is
given only the public half. The key id names the key by its fingerprint, so a new key is a
new id and OPA configured for the old one refuses bundles signed with the new one.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

__all__ = ["SIGNING_ALGORITHM", "IgSigningKey", "ig_signing_key", "provision_ig_signing_key"]

SIGNING_ALGORITHM = "ES256"
_PRIVATE = "ig-bundle-signing.pem"
_PUBLIC = "ig-bundle-signing.pub.pem"


@dataclass(frozen=True, slots=True)
class IgSigningKey:
    private_key_path: Path
    public_key_path: Path
    key_id: str

    @property
    def public_key_pem(self) -> str:
        return self.public_key_path.read_text()


def _key_id(public_pem: bytes) -> str:
    public = serialization.load_pem_public_key(public_pem)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"safehub-ig-{hashlib.sha256(der).hexdigest()[:12]}"


def ig_signing_key(keys_dir: Path) -> IgSigningKey | None:
    """The existing IG key pair under `<keys_dir>/policy/`, or None before the first publish."""
    directory = keys_dir / "policy"
    private, public = directory / _PRIVATE, directory / _PUBLIC
    if not (private.is_file() and public.is_file()):
        return None
    return IgSigningKey(private, public, _key_id(public.read_bytes()))


def provision_ig_signing_key(keys_dir: Path) -> IgSigningKey:
    """The IG key pair, generated on first use. Idempotent; never overwrites a key."""
    existing = ig_signing_key(keys_dir)
    if existing is not None:
        return existing
    directory = keys_dir / "policy"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    directory.chmod(0o700)
    private_key = ec.generate_private_key(ec.SECP256R1())
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # O_EXCL: two concurrent first publishes must not end with a private key that does not
    # match the public one.
    fd = os.open(directory / _PRIVATE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    tmp = directory / f".{_PUBLIC}.{os.getpid()}.tmp"
    tmp.write_bytes(public_pem)
    tmp.replace(directory / _PUBLIC)
    return IgSigningKey(directory / _PRIVATE, directory / _PUBLIC, _key_id(public_pem))
