"""The hub's linkage secret on disk: 32 random bytes, mode 0600, in the key directory (0700).
Only the child index reads it; `safehub stack up` and `safehub childindex serve` create it
once and never replace it (a new secret would give every child a new key)."""

from __future__ import annotations

import secrets
from pathlib import Path

from services.childindex.errors import LinkageSecretMissing
from services.hubkit.private_files import ensure_private

__all__ = ["MIN_SECRET_BYTES", "load_linkage_secret", "provision_linkage_secret"]

MIN_SECRET_BYTES = 32


def provision_linkage_secret(path: Path) -> None:
    """Create the hub's linkage secret (32 random bytes, mode 0600) unless it exists."""
    ensure_private(path, lambda: secrets.token_bytes(MIN_SECRET_BYTES))


def load_linkage_secret(path: Path) -> bytes:
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        raise LinkageSecretMissing(
            f"no linkage secret at {path}: run `safehub stack up` (or `safehub childindex "
            "serve`, which creates it); never copy it to another service"
        ) from None
    if len(secret) < MIN_SECRET_BYTES:
        raise LinkageSecretMissing(
            f"the linkage secret at {path} is shorter than {MIN_SECRET_BYTES} bytes; restore "
            "the hub's secret from backup (a new one would give every child a new key)"
        )
    return secret
