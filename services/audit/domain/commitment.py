"""Leaves that commit to a record without holding it (issue 18: erasure keeps the log verifiable).

An entry that names a child is not put into the tree as the record's bytes. The tree hashes a
*commitment* to them instead, and the record (with its salt) is the entry's *opening*, kept
sealed beside the tree where it can be deleted:

    salt       = HMAC-SHA-256(child secret, entry_id || 0x00 || SHA-256(record))   (RFC 2104)
    commitment = SHA-256(salt || record)                                            (FIPS 180-4)
    leaf input = COMMITTED_PREFIX || commitment

Why each part:
- the salt is secret and per entry, so the leaf cannot be opened by guessing (a linkage key,
  a decision's few possible outcomes) and hashing guesses: a commitment is *hiding* only
  while its randomness is secret (the usual hash commitment, Halevi and Micali, CRYPTO 1996;
  Certificate Transparency's redaction drafts and Trillian's "personality" docs use the same
  shape for private log entries);
- it is derived, not drawn, so a re-delivered record gets the same salt, the same leaf and the
  same leaf hash, and the indexer still skips it (`indexer.plan_appends`);
- SHA-256 is collision resistant, so a commitment opens to one record only (*binding*): the
  opening handed to a partner can be checked against the leaf the signed tree holds;
- erasing the child's secret (and every stored opening) leaves only the commitment: the tree,
  every leaf hash, every subtree and so every inclusion and consistency proof is unchanged,
  and nothing left in the log reads as the child's data.

`COMMITTED_PREFIX` begins with "safehub.", like `ACCESS_PREFIX` and `REJECTED_PREFIX` (which it
differs from in its second word), so it can never begin an Avro single-object message (0xC3)
and never be read as another kind of leaf.

Pure functions over bytes: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "COMMITMENT_SIZE",
    "COMMITTED_PREFIX",
    "commitment",
    "committed_leaf",
    "is_committed",
    "leaf_salt",
    "opens",
]

COMMITTED_PREFIX = b"safehub.audit.committed.v1\n"
COMMITMENT_SIZE = hashlib.sha256().digest_size


def leaf_salt(child_secret: bytes, *, entry_id: str, record: bytes) -> bytes:
    """The entry's salt: HMAC-SHA-256 (RFC 2104) keyed by the child's secret over the entry id,
    a 0x00 separator (an entry id is text and never holds one) and the record's SHA-256.

    Deterministic for the same child, entry and record (so re-delivery is idempotent), and
    unpredictable without the child's secret."""
    message = entry_id.encode() + b"\x00" + hashlib.sha256(record).digest()
    return hmac.new(child_secret, message, hashlib.sha256).digest()


def commitment(salt: bytes, record: bytes) -> bytes:
    """SHA-256(salt || record). The salt has a fixed length (32 bytes from `leaf_salt`), so
    the split between salt and record is unambiguous."""
    return hashlib.sha256(salt + record).digest()


def committed_leaf(salt: bytes, record: bytes) -> bytes:
    """The leaf input the tree hashes for a committed entry."""
    return COMMITTED_PREFIX + commitment(salt, record)


def is_committed(leaf_input: bytes) -> bool:
    """Whether a leaf input is a commitment (as opposed to a record logged as it travelled, an
    IG access entry, a rejection or an erasure entry)."""
    return (
        leaf_input.startswith(COMMITTED_PREFIX)
        and len(leaf_input) == len(COMMITTED_PREFIX) + COMMITMENT_SIZE
    )


def opens(leaf_input: bytes, salt: bytes, record: bytes) -> bool:
    """Whether (salt, record) is the opening of `leaf_input`. Constant-time comparison
    (`hmac.compare_digest`), so a caller probing openings learns nothing from timing."""
    return hmac.compare_digest(leaf_input, committed_leaf(salt, record))
