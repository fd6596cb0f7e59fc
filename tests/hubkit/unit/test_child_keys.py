"""Per-child sealing (services/hubkit/child_keys.py): a value opens only with its own child's
key, under its own associated data, and not at all once the child's key is gone."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.hubkit.child_keys import (
    KEY_BYTES,
    ChildKeys,
    StoreKeyFile,
    derive_key,
    load_or_create_store_key,
    open_sealed,
    seal,
)
from services.hubkit.errors import SealedValueUnreadable, SealingError, StoreKeyInvalid

STORE_KEY = bytes(range(32))


@given(plaintext=st.binary(max_size=2048), aad=st.binary(max_size=64))
def test_a_sealed_value_opens_with_its_key_and_associated_data(
    plaintext: bytes, aad: bytes
) -> None:
    key = secrets.token_bytes(KEY_BYTES)
    sealed = seal(key, plaintext, aad=aad)
    assert open_sealed(key, sealed, aad=aad) == plaintext
    assert len(plaintext) < 8 or plaintext not in sealed  # no clear copy rides along


def test_the_same_value_sealed_twice_differs() -> None:
    # A fresh 96-bit nonce per seal (SP 800-38D 8.2.2): equal values are not recognisable.
    key = secrets.token_bytes(KEY_BYTES)
    assert seal(key, b"same", aad=b"row") != seal(key, b"same", aad=b"row")


def test_a_value_does_not_open_under_another_key() -> None:
    sealed = seal(secrets.token_bytes(KEY_BYTES), b"Pip Quorndon", aad=b"row-1")
    with pytest.raises(SealedValueUnreadable, match="does not open"):
        open_sealed(secrets.token_bytes(KEY_BYTES), sealed, aad=b"row-1")


def test_a_value_moved_to_another_row_does_not_open() -> None:
    key = secrets.token_bytes(KEY_BYTES)
    sealed = seal(key, b"Pip Quorndon", aad=b"feed-entry:mash-manager:n-1")
    with pytest.raises(SealedValueUnreadable):
        open_sealed(key, sealed, aad=b"feed-entry:mash-manager:n-2")
    with pytest.raises(SealedValueUnreadable):
        open_sealed(key, sealed, aad=b"feed-entry:mash-nurse:n-1")


@pytest.mark.parametrize("cut", [0, 5, 12, 27])
def test_an_altered_or_cut_value_does_not_open(cut: int) -> None:
    key = secrets.token_bytes(KEY_BYTES)
    sealed = seal(key, b"Pip Quorndon", aad=b"row")
    flipped = bytes([sealed[0] ^ 1]) + sealed[1:]
    for bad in (sealed[:cut], flipped, sealed + b"\x00"):
        with pytest.raises(SealedValueUnreadable):
            open_sealed(key, bad, aad=b"row")


def test_a_child_key_unwraps_only_for_its_holder_under_its_store_key() -> None:
    keys = ChildKeys(STORE_KEY, store="console")
    data_key, wrapped = keys.new_data_key("mash-manager:ref-a")
    assert len(data_key) == KEY_BYTES
    assert data_key not in wrapped
    assert keys.unwrap("mash-manager:ref-a", wrapped) == data_key
    with pytest.raises(SealedValueUnreadable):
        keys.unwrap("mash-manager:ref-b", wrapped)  # another child's row
    with pytest.raises(SealedValueUnreadable):
        ChildKeys(secrets.token_bytes(32), store="console").unwrap("mash-manager:ref-a", wrapped)
    with pytest.raises(SealedValueUnreadable):
        ChildKeys(STORE_KEY, store="cpis").unwrap("mash-manager:ref-a", wrapped)  # other store


def test_an_erased_childs_values_do_not_open_under_a_new_key() -> None:
    # Erasure deletes the wrapped key; a key made for the child afterwards is a new one.
    keys = ChildKeys(STORE_KEY, store="console")
    before, _ = keys.new_data_key("ref-a")
    sealed = seal(before, b"Pip Quorndon", aad=b"row")
    after, _ = keys.new_data_key("ref-a")
    with pytest.raises(SealedValueUnreadable):
        open_sealed(after, sealed, aad=b"row")


def test_child_references_are_keyed_and_kept_apart_by_scheme_and_store() -> None:
    keys = ChildKeys(STORE_KEY, store="console")
    ref = keys.child_ref("linkage", "k" * 64)
    assert len(ref) == 64
    assert int(ref, 16) >= 0
    assert ref == ChildKeys(STORE_KEY, store="console").child_ref("linkage", "k" * 64)
    assert ref != keys.child_ref("nhs", "k" * 64)
    assert ref != ChildKeys(STORE_KEY, store="cpis").child_ref("linkage", "k" * 64)
    assert ref != ChildKeys(secrets.token_bytes(32), store="console").child_ref("linkage", "k" * 64)


def test_derived_keys_follow_rfc_5869() -> None:
    # RFC 5869 appendix A.3 (SHA-256, zero-length salt and info), first 32 bytes of the OKM.
    ikm = bytes.fromhex("0b" * 22)
    okm = derive_key(ikm, b"")
    assert okm.hex() == "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"


def test_a_store_key_of_the_wrong_size_is_refused() -> None:
    with pytest.raises(StoreKeyInvalid):
        ChildKeys(b"short", store="console")


def test_the_store_key_file_is_made_once_private_and_a_truncated_one_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "keys" / "console" / "store.key"
    source = StoreKeyFile(path)
    key = source.store_key()
    assert len(key) == KEY_BYTES
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert load_or_create_store_key(path) == key
    path.write_bytes(key[:31])  # truncated (a bad copy)
    with pytest.raises(StoreKeyInvalid, match="32-byte key") as refused:
        source.store_key()
    assert str(path) in str(refused.value)
    assert isinstance(refused.value, SealingError)
