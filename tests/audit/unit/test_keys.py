"""The log key: created once with 0600, public half exported as PEM and as a verifier key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from services.audit.errors import EvidenceMalformed
from services.audit.keys import ensure_log_key, load_public_key, log_key_paths
from services.hubkit.envelope import KeyDirectory


def test_the_log_key_is_created_once_and_exported(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    key = ensure_log_key(keys, name="audit-log", origin="safehub.audit.v1")
    private, public, vkey = log_key_paths(keys, "audit-log")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    again = ensure_log_key(keys, name="audit-log", origin="safehub.audit.v1")
    assert again.private_bytes_raw() == key.private_bytes_raw()
    raw = key.public_key().public_bytes_raw()
    assert load_public_key(public).public_bytes_raw() == raw
    assert load_public_key(vkey).public_bytes_raw() == raw
    assert vkey.read_text().startswith("safehub.audit.v1+")
    # The envelope key directory (trusted/*.json) never picks up the log key.
    assert list((keys / "trusted").glob("*.json")) == []
    KeyDirectory.load(keys / "trusted")


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n",
        b"name+00000000+AAAA",
        b"safehub.audit.v1+deadbeef+AQ" + b"A" * 42 + b"=",
    ],
)
def test_unreadable_public_keys_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "key"
    path.write_bytes(content)
    with pytest.raises(EvidenceMalformed):
        load_public_key(path)


def test_a_missing_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(EvidenceMalformed, match="cannot read"):
        load_public_key(tmp_path / "absent.pub")


def test_a_mounted_key_is_read_without_touching_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a cluster the key and its public halves come from a read-only Secret volume, where
    even a chmod fails (EROFS): the indexer must start from them as they are."""
    keys = tmp_path / "keys"
    key = ensure_log_key(keys, name="audit-log", origin="safehub.audit.v1")

    def read_only(*_: object, **__: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Path, "chmod", read_only)
    monkeypatch.setattr(Path, "mkdir", read_only)
    monkeypatch.setattr("services.audit.keys.write_atomically", read_only)
    again = ensure_log_key(keys, name="audit-log", origin="safehub.audit.v1")
    assert again.private_bytes_raw() == key.private_bytes_raw()
