"""What the child index holds at rest, and in which form (issue 18, crypto-shredding). Pure.

The index's store key (<keys_dir>/childindex/store.key, services/hubkit/child_keys.py) gives:
- the wrapping key of every child data key (`ChildKeys`, store label "childindex"): a child's
  records, observations and review rationales are sealed (AES-256-GCM) under the data key of
  the child key they were stored under, so erasing the child is deleting its keys;
- the digest key (HKDF label "safehub.childindex.digests.v1"): whatever the index must look
  up by an identifier (blocking keys, a record's fingerprint, the digest of its comparable
  row, an erased key) is held only as HMAC-SHA-256 under it. Without the store key a digest
  can be neither reversed nor recomputed from guessed names and birth dates, which an unkeyed
  hash of such low-entropy values could be.

Every sealed value's associated data names its table, row and column (`value_aad`), so a
value copied to another row or column does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from services.hubkit.child_keys import ChildKeys, derive_key

__all__ = ["BLOCKING_DIGEST_HEX", "IndexSealing", "value_aad"]

_STORE_LABEL = "childindex"
_DIGEST_LABEL = b"safehub.childindex.digests.v1"
# 128 bits: a blocking-key collision only adds a candidate the model then scores (never a
# wrong link), and the table has several rows per record, so half the HMAC is kept.
BLOCKING_DIGEST_HEX = 32


def value_aad(table: str, row: str, column: str) -> bytes:
    """The associated data of a sealed value: which table, row and column it belongs to."""
    return f"safehub.childindex:{table}:{row}:{column}".encode()


class IndexSealing:
    """The child index's keys, derived from its store key (module note)."""

    def __init__(self, store_key: bytes) -> None:
        self.child_keys = ChildKeys(store_key, store=_STORE_LABEL)
        self._digest_key = derive_key(store_key, _DIGEST_LABEL)

    def _digest(self, kind: str, text: str) -> str:
        # The kind keeps digests of different things apart even when their texts coincide.
        message = f"{kind}\x00{text}".encode()
        return hmac.new(self._digest_key, message, hashlib.sha256).hexdigest()

    def fingerprint(self, agency: str, evidence: Mapping[str, Any]) -> str:
        """What makes a record the same record again: the agency and its identifiers."""
        return self._digest("fingerprint", json.dumps([agency, evidence], sort_keys=True))

    def match_digest(self, row: Mapping[str, Any]) -> str:
        """What makes two stored rows score alike: everything but the record id."""
        comparable = {k: v for k, v in row.items() if k != "record_id"}
        return self._digest("match-row", json.dumps(comparable, sort_keys=True))

    def blocking_key(self, rule: str, value: str) -> str:
        """A blocking key ("dob=2012-05-17", a name prefix) as the index stores and finds it."""
        return self.blocking_key_text(f"{rule}={value}")

    def blocking_key_text(self, text: str) -> str:
        """The same digest from the clear "rule=value" text an index before sealing stored."""
        return self._digest("blocking-key", text)[:BLOCKING_DIGEST_HEX]

    def erased_key(self, child_key: str) -> str:
        """How an erased child key is remembered: enough to refuse it to a new child, not
        enough to list which keys were erased."""
        return self._digest("erased-child", child_key)
