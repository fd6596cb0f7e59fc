"""Keyed digests of typed values: stable under one key, unrelated under another, the key kept
private and made once."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from services.hubkit.keyed_digest import (
    DIGEST_KEY_BYTES,
    KEYED_DIGEST_PREFIX,
    DigestKeyInvalid,
    ensure_digest_key,
    keyed_digest,
)

REFERENCE = "SAR-2026-0042"


def test_the_same_key_gives_the_same_digest_and_another_key_another() -> None:
    one, other = b"\x01" * DIGEST_KEY_BYTES, b"\x02" * DIGEST_KEY_BYTES
    assert keyed_digest(one, REFERENCE) == keyed_digest(one, REFERENCE)
    assert keyed_digest(one, REFERENCE) != keyed_digest(other, REFERENCE)
    assert keyed_digest(one, REFERENCE) != keyed_digest(one, "SAR-2026-0043")


def test_it_is_labelled_keyed_and_is_not_the_plain_hash() -> None:
    digest = keyed_digest(b"\x01" * DIGEST_KEY_BYTES, REFERENCE)
    assert digest.startswith(KEYED_DIGEST_PREFIX)
    assert len(digest) == len(KEYED_DIGEST_PREFIX) + 64
    # Someone hashing candidate references without the key does not find it.
    assert hashlib.sha256(REFERENCE.encode()).hexdigest() not in digest


def test_the_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "audit" / "digest.key"
    first = ensure_digest_key(path)
    assert len(first) == DIGEST_KEY_BYTES
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert ensure_digest_key(path) == first  # a restart keeps the key
    assert ensure_digest_key(tmp_path / "elsewhere" / "digest.key") != first


def test_a_truncated_key_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "digest.key"
    path.write_bytes(b"short")
    with pytest.raises(DigestKeyInvalid, match="restore it from backup"):
        ensure_digest_key(path)
