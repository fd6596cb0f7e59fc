"""Which notices an adapter has published: the durable idempotency store.

Same source record twice -> same notice id -> one notice on the bus. Before publishing, the
adapter *claims* the notice id with a fingerprint of the notice content; after the broker
acknowledged, it marks the claim *published*. What a claim attempt finds decides the answer:

    nothing                          -> CLAIMED: publish it
    published, same content          -> ALREADY_PUBLISHED: answer 202 with the same id, do
                                        not publish again
    published, different content     -> CONFLICT: answer 409, publish nothing. Notices are
                                        immutable events and downstream consumers are
                                        idempotent on notice_id, so a second, different
                                        notice under the same id would be silently dropped
                                        there. A correction must be sent as a new record
                                        (each native format has a `revision` or new reference)
    claimed by another request       -> IN_FLIGHT: wait for it, then answer as above
    claimed, lease expired           -> CLAIMED: the other request died; take over

The store holds notice ids, content fingerprints and, per published notice, the linkage key
it was published under (a keyed pseudonym, not an identifier): no personal data. The linkage
key is what a retraction of the notice is published under, so it lands on the original's
partition (issue 18). Notices published before the store kept linkage keys have none
(`PublishedNotice.linkage_key` None): they cannot be retracted through the adapter. The
store also records each retraction it published (`retractions`: retraction id, notice id,
reason, replacement), so the same retraction sent again publishes nothing new.

The single window for a duplicate on the bus is a crash after the broker acknowledged but
before `mark_published` committed; a retry then publishes the same notice again (same id,
same bytes but the signing time). The gateway dead-letters that copy as DUPLICATE_NOTICE
(services/gateway/domain/replay.py), and consumers are idempotent on notice_id.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

__all__ = [
    "Claim",
    "IdempotencyStore",
    "MemoryIdempotencyStore",
    "PublishedNotice",
    "RecordedRetraction",
    "SqliteIdempotencyStore",
    "StoredClaim",
    "decide_claim",
]


class Claim(StrEnum):
    CLAIMED = "claimed"
    ALREADY_PUBLISHED = "already_published"
    IN_FLIGHT = "in_flight"
    CONFLICT = "conflict"


@dataclass(frozen=True, slots=True)
class StoredClaim:
    notice_id: str
    content_sha256: str
    published: bool
    claimed_at: float


@dataclass(frozen=True, slots=True)
class PublishedNotice:
    """A notice the adapter published: its id and the linkage key it was keyed by (None for
    a notice published before the store kept linkage keys)."""

    notice_id: str
    linkage_key: str | None


@dataclass(frozen=True, slots=True)
class RecordedRetraction:
    """A retraction the adapter published (the broker acknowledged it)."""

    retraction_id: str
    notice_id: str
    reason: str
    replaced_by_notice_id: str | None


def decide_claim(
    existing: StoredClaim | None, *, content_sha256: str, now: float, lease_s: float
) -> Claim:
    """The rule above, as a pure function."""
    if existing is None:
        return Claim.CLAIMED
    if existing.published:
        same = existing.content_sha256 == content_sha256
        return Claim.ALREADY_PUBLISHED if same else Claim.CONFLICT
    if now - existing.claimed_at > lease_s:
        return Claim.CLAIMED
    if existing.content_sha256 != content_sha256:
        return Claim.CONFLICT
    return Claim.IN_FLIGHT


class IdempotencyStore(Protocol):
    """Port: where claims live. `claim` must be atomic across every process sharing it."""

    def claim(
        self,
        notice_id: str,
        *,
        content_sha256: str,
        now: float,
        linkage_key: str | None = None,
    ) -> Claim: ...

    def mark_published(self, notice_id: str, *, now: float) -> None: ...

    def release(self, notice_id: str) -> None: ...

    def published(self, notice_id: str) -> PublishedNotice | None:
        """The notice if the adapter published it (the broker acknowledged), else None."""
        ...

    def retraction(self, retraction_id: str) -> RecordedRetraction | None:
        """The retraction if the adapter published it, else None."""
        ...

    def record_retraction(self, retraction: RecordedRetraction, *, now: float) -> None:
        """Remember a retraction the broker acknowledged (idempotent)."""
        ...

    def close(self) -> None: ...


class MemoryIdempotencyStore:
    """In-process store (unit tests, throwaway runs): same rules, no durability."""

    def __init__(self, *, lease_s: float = 120.0) -> None:
        self._lease_s = lease_s
        self._claims: dict[str, StoredClaim] = {}
        self._linkage: dict[str, str | None] = {}
        self._retractions: dict[str, RecordedRetraction] = {}

    def claim(
        self,
        notice_id: str,
        *,
        content_sha256: str,
        now: float,
        linkage_key: str | None = None,
    ) -> Claim:
        decision = decide_claim(
            self._claims.get(notice_id),
            content_sha256=content_sha256,
            now=now,
            lease_s=self._lease_s,
        )
        if decision is Claim.CLAIMED:
            self._claims[notice_id] = StoredClaim(notice_id, content_sha256, False, now)
            self._linkage[notice_id] = linkage_key
        elif decision is Claim.ALREADY_PUBLISHED and self._linkage.get(notice_id) is None:
            self._linkage[notice_id] = linkage_key
        return decision

    def mark_published(self, notice_id: str, *, now: float) -> None:
        current = self._claims[notice_id]
        self._claims[notice_id] = StoredClaim(notice_id, current.content_sha256, True, now)

    def release(self, notice_id: str) -> None:
        current = self._claims.get(notice_id)
        if current is not None and not current.published:
            del self._claims[notice_id]

    def published(self, notice_id: str) -> PublishedNotice | None:
        claim = self._claims.get(notice_id)
        if claim is None or not claim.published:
            return None
        return PublishedNotice(notice_id, self._linkage.get(notice_id))

    def retraction(self, retraction_id: str) -> RecordedRetraction | None:
        return self._retractions.get(retraction_id)

    def record_retraction(self, retraction: RecordedRetraction, *, now: float) -> None:
        self._retractions.setdefault(retraction.retraction_id, retraction)

    def close(self) -> None:
        self._claims.clear()

    def published_ids(self) -> frozenset[str]:
        return frozenset(k for k, v in self._claims.items() if v.published)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS notice_claims (
    notice_id       TEXT PRIMARY KEY,
    content_sha256  TEXT NOT NULL,
    published       INTEGER NOT NULL CHECK (published IN (0, 1)),
    claimed_at      REAL NOT NULL,
    published_at    REAL,
    linkage_key     TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retractions (
    retraction_id          TEXT PRIMARY KEY,
    notice_id              TEXT NOT NULL,
    reason                 TEXT NOT NULL,
    replaced_by_notice_id  TEXT,
    published_at           REAL NOT NULL
) WITHOUT ROWID;
"""


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a store made by an older adapter up to date: notice_claims gained linkage_key
    (its rows keep NULL: published before retractions were supported)."""
    columns = {str(row[1]) for row in db.execute("PRAGMA table_info(notice_claims)")}
    if "linkage_key" not in columns:
        db.execute("ALTER TABLE notice_claims ADD COLUMN linkage_key TEXT")


class SqliteIdempotencyStore:
    """Durable store in one SQLite file (WAL). Safe for several processes on one host:
    a claim runs in a `BEGIN IMMEDIATE` transaction, so two claimants serialise."""

    def __init__(self, path: Path, *, lease_s: float = 120.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lease_s = lease_s
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._create()

    def _create(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                _migrate(self._db)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def claim(
        self,
        notice_id: str,
        *,
        content_sha256: str,
        now: float,
        linkage_key: str | None = None,
    ) -> Claim:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT content_sha256, published, claimed_at FROM notice_claims "
                    "WHERE notice_id = ?",
                    (notice_id,),
                ).fetchone()
                existing = (
                    None
                    if row is None
                    else StoredClaim(notice_id, str(row[0]), bool(row[1]), float(row[2]))
                )
                decision = decide_claim(
                    existing, content_sha256=content_sha256, now=now, lease_s=self._lease_s
                )
                if decision is Claim.CLAIMED:
                    self._db.execute(
                        "INSERT INTO notice_claims (notice_id, content_sha256, published, "
                        "claimed_at, linkage_key) VALUES (?, ?, 0, ?, ?) "
                        "ON CONFLICT (notice_id) DO UPDATE "
                        "SET content_sha256 = excluded.content_sha256, "
                        "claimed_at = excluded.claimed_at, linkage_key = excluded.linkage_key",
                        (notice_id, content_sha256, now, linkage_key),
                    )
                elif decision is Claim.ALREADY_PUBLISHED and linkage_key is not None:
                    # Same content, so the same linkage key: a notice published before the
                    # store kept keys becomes retractable once its record is sent again.
                    self._db.execute(
                        "UPDATE notice_claims SET linkage_key = ? "
                        "WHERE notice_id = ? AND linkage_key IS NULL",
                        (linkage_key, notice_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return decision

    def mark_published(self, notice_id: str, *, now: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE notice_claims SET published = 1, published_at = ? WHERE notice_id = ?",
                (now, notice_id),
            )

    def release(self, notice_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM notice_claims WHERE notice_id = ? AND published = 0", (notice_id,)
            )

    def published(self, notice_id: str) -> PublishedNotice | None:
        with self._lock:
            row = self._db.execute(
                "SELECT linkage_key FROM notice_claims WHERE notice_id = ? AND published = 1",
                (notice_id,),
            ).fetchone()
        if row is None:
            return None
        return PublishedNotice(notice_id, None if row[0] is None else str(row[0]))

    def retraction(self, retraction_id: str) -> RecordedRetraction | None:
        with self._lock:
            row = self._db.execute(
                "SELECT notice_id, reason, replaced_by_notice_id FROM retractions "
                "WHERE retraction_id = ?",
                (retraction_id,),
            ).fetchone()
        if row is None:
            return None
        return RecordedRetraction(
            retraction_id, str(row[0]), str(row[1]), None if row[2] is None else str(row[2])
        )

    def record_retraction(self, retraction: RecordedRetraction, *, now: float) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO retractions (retraction_id, notice_id, reason, "
                "replaced_by_notice_id, published_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (retraction_id) DO NOTHING",
                (
                    retraction.retraction_id,
                    retraction.notice_id,
                    retraction.reason,
                    retraction.replaced_by_notice_id,
                    now,
                ),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def published_count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM notice_claims WHERE published = 1")
            return int(row.fetchone()[0])
