"""Personal data at rest sealed under the child's own data key, so erasing a child is deleting
one key (issue 18's crypto-shredding). Every store the hub keeps seals this way: the CP-IS
register (services/cpis/store.py) and the console's feed projection
(services/console/projection_store.py).

The key hierarchy, one per store (each store has its own store key and its own labels):

    store key        32 random bytes, <keys_dir>/<service>/store.key (0600, owner-only
                     directory), made on first start
      -- HKDF-SHA-256 (RFC 5869), info "safehub.<store>.child-index.v1" -->  index key
      -- HKDF-SHA-256 (RFC 5869), info "safehub.<store>.key-wrapping.v1" --> wrapping key
    child reference  HMAC-SHA-256(index key, "<scheme>:<identifier>") (RFC 2104), hex: the
                     only form in which a child's identifier names the child's key; without
                     the store key it can be neither reversed nor recomputed from guesses
    child data key   32 random bytes per child, kept in the store's `child_keys` table only
                     wrapped: AES-256-GCM under the wrapping key, bound to its holder (the
                     child reference, and the subscriber where a store keeps one per feed)
    sealed value     AES-256-GCM under the child data key (NIST SP 800-38D), its associated
                     data naming what it is (table and row), so a value copied to another row,
                     or to another child, does not open

Erasing a child deletes its wrapped data key: every value sealed under it is then noise, in
the database file, its write-ahead log and its free pages. A backup of the file taken before
the erasure still holds the wrapped key beside the data, so erasure reaches backups only when
the store key is kept apart from them (and, in production, held by a KMS: see below).

Where the store key lives in production: a file is the local stack's choice. A deployment
holds it by envelope encryption instead: the store key is generated once, kept only wrapped by
a key in a KMS or Vault's transit engine (AWS KMS Encrypt/Decrypt, Azure Key Vault wrapKey,
GCP Cloud KMS, Vault `transit/decrypt`), and unwrapped into memory at start. The seam is
`StoreKeySource`: anything with `store_key() -> bytes` can stand where `StoreKeyFile` stands
in a service's wiring point; the KMS key never leaves the KMS, access to it is audited there,
and revoking it makes every copy of the store (backups included) unreadable at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.hubkit.errors import SealedValueUnreadable, StoreKeyInvalid
from services.hubkit.private_files import ensure_private

__all__ = [
    "KEY_BYTES",
    "ChildKeys",
    "StoreKeyFile",
    "StoreKeySource",
    "derive_key",
    "load_or_create_store_key",
    "open_sealed",
    "seal",
]

KEY_BYTES = 32  # AES-256; HMAC-SHA-256 keys of the hash's output length (RFC 2104 section 3)
# 96 bits: the IV length SP 800-38D section 5.2.1.1 recommends, used as is (no GHASH of the IV).
_NONCE_BYTES = 12


def derive_key(store_key: bytes, label: bytes) -> bytes:
    """A 32-byte key for one use (`label`), from the store key: HKDF-SHA-256 (RFC 5869
    section 2), with no salt (section 3.1: the store key is already uniformly random) and the
    label as `info` (section 3.2: independent keys from one secret, one per context)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(
        store_key
    )


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    """AES-256-GCM (NIST SP 800-38D) of `plaintext`, bound to `aad`: nonce || ciphertext || tag.

    The nonce is 96 random bits per seal (SP 800-38D section 8.2.2, the RBG-based
    construction); section 8.3 bounds one key to 2^32 such seals, and a child's key seals
    far fewer values than that in a store's lifetime."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, *, aad: bytes) -> bytes:
    """The plaintext `seal` sealed, if `key` and `aad` are the ones it was sealed with
    (SP 800-38D section 7.2: the tag is checked before anything is returned)."""
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise SealedValueUnreadable(
            "a sealed value does not open with its key (the store key changed, or the value "
            "was altered or moved to another row)"
        ) from None


class ChildKeys:
    """The index and wrapping keys derived from one store's key (see the module note).

    `store` names the store in the derivation labels ("cpis", "console"): two stores given
    the same store key by mistake still derive unrelated keys."""

    def __init__(self, store_key: bytes, *, store: str) -> None:
        if len(store_key) != KEY_BYTES:
            raise StoreKeyInvalid(f"a store key must be {KEY_BYTES} bytes")
        self._index = derive_key(store_key, f"safehub.{store}.child-index.v1".encode())
        self._wrapping = derive_key(store_key, f"safehub.{store}.key-wrapping.v1".encode())

    def child_ref(self, scheme: str, identifier: str) -> str:
        """The child reference of `identifier` (an NHS number under "nhs", a linkage key
        under "linkage"): HMAC-SHA-256 (RFC 2104) under the index key, hex. The scheme keeps
        two kinds of identifier that happen to share a value apart."""
        message = f"{scheme}:{identifier}".encode()
        return hmac.new(self._index, message, hashlib.sha256).hexdigest()

    def new_data_key(self, holder: str) -> tuple[bytes, bytes]:
        """A fresh child data key and its wrapped form, bound to `holder` (the child
        reference, or whatever names the key's one owner in its store)."""
        data_key = secrets.token_bytes(KEY_BYTES)
        return data_key, seal(self._wrapping, data_key, aad=_wrap_aad(holder))

    def unwrap(self, holder: str, wrapped: bytes) -> bytes:
        """The data key `new_data_key` wrapped for `holder`; SealedValueUnreadable when it
        was wrapped for another holder or under another store key."""
        return open_sealed(self._wrapping, wrapped, aad=_wrap_aad(holder))


def _wrap_aad(holder: str) -> bytes:
    return f"child-key:{holder}".encode()


def load_or_create_store_key(path: Path) -> bytes:
    """The store key at `path`, created (32 random bytes, mode 0600) on first use."""
    key = ensure_private(path, lambda: secrets.token_bytes(KEY_BYTES))
    if len(key) != KEY_BYTES:
        raise StoreKeyInvalid(
            f"{path} is not a {KEY_BYTES}-byte key; restore the right file from its backup "
            "(without it nothing sealed in the store can be read)"
        )
    return key


class StoreKeySource(Protocol):
    """Where a service's wiring point gets its store key: the seam for a KMS or Vault."""

    def store_key(self) -> bytes: ...


class StoreKeyFile:
    """The local stack's store key source: a 0600 file, made on first start."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def store_key(self) -> bytes:
        return load_or_create_store_key(self.path)
