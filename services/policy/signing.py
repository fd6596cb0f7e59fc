"""The information-governance bundle signing key: generated once, kept under the data dir.

ECDSA P-256 (JWS `ES256`), which OPA verifies natively (`keys.<id>.algorithm: ES256`). The
private key never leaves `<keys_dir>/policy/` (mode 0600; `var/` is not in git); OPA is
given only the public half. The key id names the key by its fingerprint, so a new key is a
new id and OPA configured for the old one refuses bundles signed with the new one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.hubkit.private_files import ensure_private, pkcs8_pem, private_dir, write_atomically

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
    directory = private_dir(keys_dir / "policy")
    # Two first publishes may race: exactly one private key is created, and the public half
    # is always derived from the private key that won, so the pair can never disagree.
    private_pem = ensure_private(
        directory / _PRIVATE, lambda: pkcs8_pem(ec.generate_private_key(ec.SECP256R1()))
    )
    winner = serialization.load_pem_private_key(private_pem, None)
    public_pem = winner.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_atomically(directory / _PUBLIC, public_pem)
    return IgSigningKey(directory / _PRIVATE, directory / _PUBLIC, _key_id(public_pem))
