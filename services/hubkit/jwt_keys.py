"""ES256 keys for JWTs: the issuer's token-signing key, and the key pairs clients sign their
assertions with (integrators', the console's, the adapters' own clients).

All keys are ES256 (ECDSA P-256): every mainstream JWT library and IdP supports it. Private
keys are PEM files with mode 0600; key ids are RFC 7638 thumbprints.
"""

from __future__ import annotations

from pathlib import Path

from joserfc.jwk import ECKey, KeyParameters, KeySet

from services.hubkit.private_files import create_private, ensure_private

__all__ = [
    "SIGNING_ALGORITHM",
    "generate_key",
    "load_key",
    "load_or_create_key",
    "public_jwks",
    "write_private_key",
]

SIGNING_ALGORITHM = "ES256"
_PARAMETERS: KeyParameters = {"use": "sig", "alg": SIGNING_ALGORITHM}


def generate_key() -> ECKey:
    return ECKey.generate_key("P-256", parameters=_PARAMETERS, auto_kid=True)


def load_key(path: Path) -> ECKey:
    return _key_from_pem(path.read_bytes())


def _key_from_pem(pem: bytes) -> ECKey:
    key = ECKey.import_key(pem, parameters=_PARAMETERS)
    key.ensure_kid()
    return key


def write_private_key(path: Path, key: ECKey) -> None:
    """Write the private key PEM with mode 0600; never overwrites an existing file."""
    if not create_private(path, key.as_pem(private=True)):
        raise FileExistsError(path)


def load_or_create_key(path: Path) -> ECKey:
    """The issuer key at `path`, created on first use. Idempotent."""
    return _key_from_pem(ensure_private(path, lambda: generate_key().as_pem(private=True)))


def public_jwks(*keys: ECKey) -> dict[str, object]:
    """The public JWK Set for `keys` (never private members)."""
    return dict(KeySet(list(keys)).as_dict(private=False))
