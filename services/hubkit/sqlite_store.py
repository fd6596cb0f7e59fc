"""A service's own SQLite file: private (0600 in a 0700 directory), WAL, one lock, and
transactions that either commit whole or not at all.

For state one process owns (the child index's records and reviews, the console's claims,
sessions and projection): one writer, so SQLite's single-writer model costs nothing, and the
file sits beside the service's other private state. Two durability levels:
- `transaction()`: commits without waiting for the disk (synchronous=NORMAL in WAL mode).
  An application crash loses nothing; a power cut may lose the last commits. For state that
  can be derived or sent again.
- `transaction(durable=True)`: waits for the disk (synchronous=FULL). For a person's decision.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.hubkit.private_files import create_private, private_dir

__all__ = ["PrivateSqlite"]


class PrivateSqlite:
    """One connection, shared by threads under one lock (each use is short)."""

    def __init__(self, path: Path, *, schema: str = "") -> None:
        private_dir(path.parent)
        if not path.exists():
            create_private(path, b"")
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.Lock()
        if schema:
            self.ensure_schema(schema)

    def ensure_schema(self, schema: str) -> None:
        """Create what `schema` declares (its statements say IF NOT EXISTS)."""
        with self.lock:
            self._db.executescript(schema)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; ROLLBACK on any exception."""
        with self.lock:
            if durable:
                self._db.execute("PRAGMA synchronous=FULL")
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                if durable:
                    self._db.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock, for reads (each statement sees committed data)."""
        with self.lock:
            yield self._db

    def close(self) -> None:
        with self.lock:
            self._db.close()
