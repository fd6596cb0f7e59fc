"""Free text about a child in the console's own ledgers, sealed under the child's data key
(issue 18's crypto-shredding): an agency check's question and findings (research.py) and a
decision's amendment reason (screening.py).

The same key table (`child_keys`) and the same ChildKeys as the feed projection
(projection_store.py, services/hubkit/child_keys.py), in one row per child under the holder
`LEDGER_HOLDER` rather than under a subscriber: a projection dropped and rebuilt from its
feed deletes its own subscriber's keys, and the ledgers are not derived from any feed, so
their key must outlive that. Each value's associated data names its table, row and column,
so a value copied to another row, another column or another child does not open.

Erasing a child (`ChildLedgerKeys.erase`, called by each ledger's `erase_child`, both called
from erasure.py) deletes the child's ledger key in the same transaction as what the ledger
drops or blanks: what is sealed under it is noise from then on, in the file, its log and
any backup of them. The database deletes securely (`secure_delete`, set here too: a ledger
may be opened before any projection) and the write-ahead log is truncated afterwards.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

from services.hubkit.child_keys import ChildKeys, open_sealed, seal
from services.hubkit.errors import SealedValueUnreadable

__all__ = ["CHILD_KEYS_SCHEMA", "LEDGER_HOLDER", "ChildLedgerKeys", "LedgerDatabase", "scrub_log"]

CHILD_KEYS_SCHEMA = """
CREATE TABLE IF NOT EXISTS child_keys (
    subscriber_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    PRIMARY KEY (subscriber_id, child_ref)
) WITHOUT ROWID;
"""
"""The console's child key table (the projection declares the same table)."""

LEDGER_HOLDER = "console:ledgers"
"""The `subscriber_id` of the ledgers' keys: a colon is not allowed in a Kafka topic name, so
no subscriber (whose feed is `feed.<subscriber id>.v1`) can have this id."""


class LedgerDatabase(Protocol):
    """What a ledger needs of its database: PrivateSqlite, or research.py's in-memory twin."""

    def ensure_schema(self, schema: str) -> None: ...

    def transaction(
        self, *, durable: bool = False
    ) -> AbstractContextManager[sqlite3.Connection]: ...

    def reading(self) -> AbstractContextManager[sqlite3.Connection]: ...


def _aad(table: str, row_id: str, column: str) -> bytes:
    return f"ledger:{table}:{row_id}:{column}".encode()


class ChildLedgerKeys:
    """Seal and open ledger values under a child's data key, inside the caller's transaction
    (its connection is passed in, so a value and its key are written together)."""

    def __init__(self, keys: ChildKeys) -> None:
        self._keys = keys

    @staticmethod
    def prepare(database: LedgerDatabase) -> None:
        """Freed pages zeroed on the database's connection (a deleted key or clear text must
        not stay in them) and the key table present."""
        with database.reading() as db:
            db.execute("PRAGMA secure_delete = ON")
        database.ensure_schema(CHILD_KEYS_SCHEMA)

    def _ref(self, child_key: str) -> str:
        return self._keys.child_ref("linkage", child_key)

    def _data_key(self, db: sqlite3.Connection, child_key: str, *, create: bool) -> bytes | None:
        child_ref = self._ref(child_key)
        holder = f"{LEDGER_HOLDER}:{child_ref}"
        row = db.execute(
            "SELECT wrapped_key FROM child_keys WHERE subscriber_id = ? AND child_ref = ?",
            (LEDGER_HOLDER, child_ref),
        ).fetchone()
        if row is not None:
            return self._keys.unwrap(holder, bytes(row[0]))
        if not create:
            return None
        key, wrapped = self._keys.new_data_key(holder)
        db.execute(
            "INSERT INTO child_keys (subscriber_id, child_ref, wrapped_key) VALUES (?, ?, ?)",
            (LEDGER_HOLDER, child_ref, wrapped),
        )
        return key

    def seal(
        self,
        db: sqlite3.Connection,
        child_key: str,
        text: str | None,
        *,
        table: str,
        row_id: str,
        column: str,
    ) -> bytes | None:
        """`text` sealed under the child's key (made on first use); None stays None."""
        if text is None:
            return None
        key = self._data_key(db, child_key, create=True)
        assert key is not None
        return seal(key, text.encode(), aad=_aad(table, row_id, column))

    def open(
        self,
        db: sqlite3.Connection,
        child_key: str,
        sealed: bytes | None,
        *,
        table: str,
        row_id: str,
        column: str,
    ) -> str | None:
        """The text `seal` sealed; SealedValueUnreadable when the child's key is gone (an
        erasure drops or blanks the child's rows with it, so that means a damaged store) or
        the value was moved."""
        if sealed is None:
            return None
        key = self._data_key(db, child_key, create=False)
        if key is None:
            raise SealedValueUnreadable(
                f"a sealed value in {table} has no child key (the child was erased, or the "
                "store is damaged)"
            )
        return open_sealed(key, bytes(sealed), aad=_aad(table, row_id, column)).decode()

    def holds(self, db: sqlite3.Connection, child_key: str) -> bool:
        """Whether the child's ledger key is still kept (the erasure job's readable check)."""
        row = db.execute(
            "SELECT 1 FROM child_keys WHERE subscriber_id = ? AND child_ref = ?",
            (LEDGER_HOLDER, self._ref(child_key)),
        ).fetchone()
        return row is not None

    def erase(self, db: sqlite3.Connection, child_key: str) -> None:
        """Delete the child's ledger key: everything sealed under it is unreadable."""
        db.execute(
            "DELETE FROM child_keys WHERE subscriber_id = ? AND child_ref = ?",
            (LEDGER_HOLDER, self._ref(child_key)),
        )


def scrub_log(database: LedgerDatabase) -> None:
    """Copy the write-ahead log into the database and truncate it, so old page images (clear
    text before an upgrade sealed it, a deleted key) are not left in its frames. A no-op on
    a database without a log (in memory)."""
    with database.reading() as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
