"""The audit log's Ed25519 checkpoint key: created once, kept private, its public half exported.

Files under the hub's key directory (`HubSettings.keys_dir`):

    private/audit-log.pem    PKCS#8 private key, mode 0600, read only by the audit service
    trusted/audit-log.pub    SubjectPublicKeyInfo PEM: what a partner agency is given
    trusted/audit-log.vkey   the same key as a C2SP note verifier key:
                             <origin>+<key id hex>+base64(0x01 || 32-byte public key)

The log key is separate from the hub's envelope key on purpose: a verifier that trusts the
log's checkpoints must not thereby trust feed envelopes, and the reverse. The public files are
not `*.json`, so the envelope `KeyDirectory` never picks the log key up.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.audit.domain.checkpoint import key_id
from services.audit.errors import EvidenceMalformed
from services.hubkit.private_files import ensure_private, pkcs8_pem, private_dir, write_atomically

__all__ = [
    "encode_verifier_key",
    "ensure_log_key",
    "load_log_key",
    "load_public_key",
    "log_key_paths",
]

_ED25519_TYPE = b"\x01"


def log_key_paths(keys_dir: Path, name: str) -> tuple[Path, Path, Path]:
    """(private PEM, public PEM, verifier key) paths for the log key called `name`."""
    return (
        keys_dir / "private" / f"{name}.pem",
        keys_dir / "trusted" / f"{name}.pub",
        keys_dir / "trusted" / f"{name}.vkey",
    )


def encode_verifier_key(origin: str, public_key: Ed25519PublicKey) -> str:
    """C2SP signed-note verifier key text for the log's key."""
    raw = _ED25519_TYPE + public_key.public_bytes_raw()
    return f"{origin}+{key_id(origin, public_key).hex()}+{base64.b64encode(raw).decode()}"


def ensure_log_key(keys_dir: Path, *, name: str, origin: str) -> Ed25519PrivateKey:
    """Load the log key, creating it (and exporting its public half) on first use. Idempotent;
    the public files are rewritten from the private key each time, so they cannot drift."""
    private_path, public_path, vkey_path = log_key_paths(keys_dir, name)
    if private_path.exists():
        # Read as it is: in a cluster the key is mounted from a Secret, read-only (even a
        # chmod of its folder fails there), with its public halves beside it.
        pem = private_path.read_bytes()
    else:
        private_dir(private_path.parent)
        pem = ensure_private(private_path, lambda: pkcs8_pem(Ed25519PrivateKey.generate()))
    key = _log_key_from_pem(private_path, pem)
    public = key.public_key()
    pem_public = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if not public_path.exists() or public_path.read_bytes() != pem_public:
        write_atomically(public_path, pem_public)
    vkey = encode_verifier_key(origin, public) + "\n"
    if not vkey_path.exists() or vkey_path.read_text() != vkey:
        write_atomically(vkey_path, vkey)
    return key


def load_log_key(private_path: Path) -> Ed25519PrivateKey:
    return _log_key_from_pem(private_path, private_path.read_bytes())


def _log_key_from_pem(private_path: Path, pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceMalformed(f"{private_path} does not hold an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """Read the log's public key from a PEM file or a C2SP verifier key file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise EvidenceMalformed(f"cannot read the public key file {path}: {error}") from error
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as error:
            raise EvidenceMalformed(f"{path} is not a PEM public key: {error}") from error
        if not isinstance(key, Ed25519PublicKey):
            raise EvidenceMalformed(f"{path} holds a public key that is not Ed25519")
        return key
    # <name>+<key id hex>+<base64 key>: the base64 may itself contain '+'.
    parts = data.decode("utf-8", errors="replace").strip().split("+", 2)
    if len(parts) != 3:
        raise EvidenceMalformed(
            f"{path} is neither a PEM public key nor a verifier key <name>+<id>+<key>"
        )
    try:
        raw = base64.b64decode(parts[2], validate=True)
    except ValueError as error:
        raise EvidenceMalformed(f"the key in {path} is not base64: {error}") from error
    if len(raw) != 33 or raw[:1] != _ED25519_TYPE:
        raise EvidenceMalformed(f"the key in {path} is not an Ed25519 verifier key")
    key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(parts[0], key).hex() != parts[1]:
        raise EvidenceMalformed(f"the key id in {path} does not match its key")
    return key
