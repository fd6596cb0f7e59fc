"""Client assertion ids already used, kept so an assertion authenticates once, ever (RFC 7523
section 3, item 7: the server may keep the used `jti`s for as long as the JWT would be
considered valid).

Kept on disk, not in memory: an assertion copied off the wire must stay spent after the
identity service restarts, and on every replica that shares the store. The check and the
insert are one statement against a unique key, so two requests racing with one assertion
(two threads, two processes or two replicas) cannot both win.

`UsedAssertions` is the port the token endpoint depends on; `SqliteUsedAssertions` is the
default (a file in the identity state dir). A PostgreSQL implementation needs only the same
two methods over the same table (`INSERT ... ON CONFLICT DO NOTHING`, then the row count).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Protocol

from services.hubkit.private_files import create_private, private_dir

__all__ = ["SqliteUsedAssertions", "UsedAssertions"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS used_assertions (
    assertion_key TEXT PRIMARY KEY,  -- '<client_id>:<jti>'
    expires_at REAL NOT NULL         -- epoch seconds; after it the assertion is refused anyway
);
CREATE INDEX IF NOT EXISTS used_assertions_expiry ON used_assertions (expires_at);
"""


class UsedAssertions(Protocol):
    def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        """Record `key` as used until `expires_at`; False if it was already recorded."""
        ...

    def close(self) -> None: ...


class SqliteUsedAssertions:
    """Used assertion ids in a SQLite file (WAL, so several processes may share it)."""

    def __init__(self, path: Path) -> None:
        # Owner-only from the first byte: SQLite gives its -wal and -shm files the database
        # file's permissions, so an empty 0600 file made first covers all three.
        private_dir(path.parent)
        create_private(path, b"")
        # One connection, serialised by a lock: the token endpoint may call from worker
        # threads. `isolation_level=None`: each statement commits on its own.
        self._db = sqlite3.connect(
            path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def first_use(self, key: str, *, expires_at: float, now: float) -> bool:
        with self._lock:
            # Expired assertions are refused by their `exp` alone, so their ids can go (an
            # indexed range delete: the table holds only the last few minutes' ids).
            self._db.execute("DELETE FROM used_assertions WHERE expires_at < ?", (now,))
            inserted = self._db.execute(
                "INSERT INTO used_assertions (assertion_key, expires_at) VALUES (?, ?) "
                "ON CONFLICT (assertion_key) DO NOTHING",
                (key, expires_at),
            )
            return inserted.rowcount == 1

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT count(*) FROM used_assertions").fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            self._db.close()
