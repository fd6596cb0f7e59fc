"""Personal data in the register is sealed under the child's own data key, so erasing a child
is deleting one key (every store the hub adds keeps personal data this way from the start,
so erasure never needs a migration).

    store key (32 bytes, file, 0600)    -- HKDF-SHA-256 -->  index key, wrapping key
    child reference = HMAC-SHA-256(index key, "nhs:" + NHS number), hex: the only form in
                      which an NHS number reaches the database; without the store key it
                      can be neither reversed nor recomputed from guessed numbers
    child data key  = 32 random bytes, stored wrapped (AES-256-GCM under the wrapping key,
                      bound to the child reference)
    sealed value    = AES-256-GCM under the child data key, bound to what it is (its
                      associated data names the table and row), so a sealed value moved to
                      another row does not open

Nonces are 96 random bits per seal (NIST SP 800-38D 8.2.2); a child's key seals far fewer
than 2^32 values.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.cpis.errors import StoreError, StoreKeyInvalid
from services.hubkit.private_files import ensure_private

__all__ = ["KEY_BYTES", "StoreKeys", "load_or_create_store_key", "open_sealed", "seal"]

KEY_BYTES = 32
_NONCE_BYTES = 12


def _derive(master: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label).derive(master)


def seal(key: bytes, plaintext: bytes, *, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, *, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise StoreError(
            "a sealed register value does not open with its key (the store key changed, or "
            "the value was altered or moved)"
        ) from None


class StoreKeys:
    """The index and wrapping keys derived from the store key."""

    def __init__(self, store_key: bytes) -> None:
        if len(store_key) != KEY_BYTES:
            raise StoreKeyInvalid(f"the CP-IS store key must be {KEY_BYTES} bytes")
        self._index = _derive(store_key, b"safehub.cpis.child-index.v1")
        self._wrapping = _derive(store_key, b"safehub.cpis.key-wrapping.v1")

    def child_ref(self, nhs_number: str) -> str:
        return hmac.new(self._index, f"nhs:{nhs_number}".encode(), hashlib.sha256).hexdigest()

    def new_data_key(self, child_ref: str) -> tuple[bytes, bytes]:
        """A fresh child data key and its wrapped form."""
        data_key = secrets.token_bytes(KEY_BYTES)
        return data_key, seal(self._wrapping, data_key, aad=f"child-key:{child_ref}".encode())

    def unwrap(self, child_ref: str, wrapped: bytes) -> bytes:
        return open_sealed(self._wrapping, wrapped, aad=f"child-key:{child_ref}".encode())


def load_or_create_store_key(path: Path) -> bytes:
    """The store key at `path`, created (32 random bytes, mode 0600) on first use."""
    key = ensure_private(path, lambda: secrets.token_bytes(KEY_BYTES))
    if len(key) != KEY_BYTES:
        raise StoreKeyInvalid(
            f"{path} is not a {KEY_BYTES}-byte key; restore the right file (without it the "
            "register cannot be read)"
        )
    return key
