"""Property tests of the leaf commitment (services/audit/domain/commitment.py)."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from services.audit.domain.commitment import (
    COMMITTED_PREFIX,
    commitment,
    committed_leaf,
    is_committed,
    leaf_salt,
    opens,
)
from services.audit.indexer import ACCESS_PREFIX, ERASURE_PREFIX, REJECTED_PREFIX

secrets_ = st.binary(min_size=32, max_size=32)
records = st.binary(min_size=0, max_size=512)
entry_ids = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)
# A pseudonymous linkage key: 64 hex characters, as the adapters derive them.
linkage_keys = st.binary(min_size=32, max_size=32).map(lambda b: b.hex())


@given(secret=secrets_, entry_id=entry_ids, key=linkage_keys, text=st.text(max_size=200))
def test_a_committed_leaf_holds_neither_the_record_nor_the_linkage_key(
    secret: bytes, entry_id: str, key: str, text: str
) -> None:
    record = f"decision about {key}: {text}".encode()
    salt = leaf_salt(secret, entry_id=entry_id, record=record)
    leaf = committed_leaf(salt, record)
    assert leaf.startswith(COMMITTED_PREFIX)
    assert len(leaf) == len(COMMITTED_PREFIX) + 32
    assert key.encode() not in leaf
    assert record not in leaf
    assert is_committed(leaf)


@given(secret=secrets_, entry_id=entry_ids, record=records)
def test_the_salt_is_the_rfc2104_hmac_and_deterministic(
    secret: bytes, entry_id: str, record: bytes
) -> None:
    expected = hmac.new(
        secret, entry_id.encode() + b"\x00" + hashlib.sha256(record).digest(), hashlib.sha256
    ).digest()
    assert leaf_salt(secret, entry_id=entry_id, record=record) == expected
    # Re-delivery: the same child, entry and record give the same leaf.
    salt = leaf_salt(secret, entry_id=entry_id, record=record)
    assert committed_leaf(salt, record) == committed_leaf(
        leaf_salt(secret, entry_id=entry_id, record=record), record
    )
    assert commitment(salt, record) == hashlib.sha256(salt + record).digest()


@given(
    secret=secrets_,
    other_secret=secrets_,
    entry_id=entry_ids,
    record=records,
    other=records,
)
def test_opens_only_for_the_right_salt_and_record(
    secret: bytes, other_secret: bytes, entry_id: str, record: bytes, other: bytes
) -> None:
    salt = leaf_salt(secret, entry_id=entry_id, record=record)
    leaf = committed_leaf(salt, record)
    assert opens(leaf, salt, record)
    if other != record:
        assert not opens(leaf, salt, other)
    other_salt = leaf_salt(other_secret, entry_id=entry_id, record=record)
    if other_salt != salt:
        assert not opens(leaf, other_salt, record)
    assert not opens(leaf, salt[:-1] + bytes([salt[-1] ^ 1]), record)


def test_the_prefix_cannot_be_read_as_another_kind_of_leaf() -> None:
    assert COMMITTED_PREFIX[0] != 0xC3  # an Avro single-object message
    for prefix in (ACCESS_PREFIX, REJECTED_PREFIX, ERASURE_PREFIX):
        assert not COMMITTED_PREFIX.startswith(prefix)
        assert not prefix.startswith(COMMITTED_PREFIX)
    assert not is_committed(ACCESS_PREFIX + b"{}")
    assert not is_committed(COMMITTED_PREFIX + b"short")
