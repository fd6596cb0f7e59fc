"""Keyed digests of short values a person typed, for logs that must not hold the value itself.

A plain SHA-256 hides nothing when the value is low-entropy: a subject access request
reference ("SAR-2026-0042"), a reason chosen from a handful, a date. Anyone holding the log
hashes the likely candidates and compares. An HMAC-SHA256 under a secret only the writing
service holds cannot be checked that way, yet the same value still gives the same digest
(under the same key), so entries about one request can be found together.

The output says what it is, `hmac-sha256:<hex>`, so a reader does not mistake it for a
content digest they can recompute. Content digests of whole documents, which a holder of the
document should be able to check, stay plain `sha256:`.

The key: 32 random bytes in a private file (0600, owner-only directory), made on first start
(`ensure_digest_key`); every process of the service shares the one file that won the race.
Replacing the key breaks the link between old and new entries about the same value, so it is
kept as long as the log is.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from services.hubkit.private_files import ensure_private, private_dir

__all__ = [
    "DIGEST_KEY_BYTES",
    "KEYED_DIGEST_PREFIX",
    "DigestKeyInvalid",
    "ensure_digest_key",
    "keyed_digest",
]

KEYED_DIGEST_PREFIX = "hmac-sha256:"
DIGEST_KEY_BYTES = 32  # the HMAC-SHA256 block's worth of strength (RFC 2104 section 3)


class DigestKeyInvalid(Exception):
    """The digest key file exists but is too short to be a key this module made."""


def keyed_digest(key: bytes, value: str) -> str:
    """`hmac-sha256:` and the hex HMAC-SHA256 of `value` (UTF-8) under `key`."""
    mac = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return KEYED_DIGEST_PREFIX + mac.hexdigest()


def ensure_digest_key(path: Path) -> bytes:
    """The digest key kept at `path`, created (random, 0600) when it is missing. A key that
    is there already (a deployment's read-only Secret mount) is only read."""
    if not path.exists():
        private_dir(path.parent)
    key = ensure_private(path, lambda: secrets.token_bytes(DIGEST_KEY_BYTES))
    if len(key) < DIGEST_KEY_BYTES:
        raise DigestKeyInvalid(
            f"{path} holds {len(key)} bytes, fewer than the {DIGEST_KEY_BYTES} of a digest key; "
            "restore it from backup, or remove it to start a new key (entries logged under the "
            "old key can then no longer be matched with new ones)"
        )
    return key
