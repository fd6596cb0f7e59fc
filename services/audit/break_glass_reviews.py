"""IG officers' reviews of emergency access grants (issue 18), kept across restarts.

A review is a person's decision about another person's use of emergency access, so it is
written durably before the officer is told it is kept, and only once per grant: the first
review stands (a second is `AlreadyReviewed`, 409), so a NOT_JUSTIFIED cannot quietly become
JUSTIFIED. Like approved family reports (`family_approvals.py`) it lives in a private SQLite
file the IG API owns (<data_dir>/audit/break-glass-reviews.sqlite,
`SAFEHUB_AUDIT_BREAK_GLASS_REVIEWS_PATH`, 0600, WAL), not in the append-only audit store; the
review's `break_glass_reviewed` access entry in the log holds its outcome and a keyed digest
of its note, so this file can be checked against the log.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Protocol

from services.audit.break_glass_review import AlreadyReviewed, Review, ReviewOutcome
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["BreakGlassReviews", "SqliteBreakGlassReviews"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS break_glass_reviews (
    decision_id TEXT PRIMARY KEY,
    outcome TEXT NOT NULL,
    note TEXT NOT NULL,
    reviewed_by TEXT NOT NULL,
    agency TEXT NOT NULL,
    reviewed_at TEXT NOT NULL
);
"""


class BreakGlassReviews(Protocol):
    def keep(self, review: Review) -> None:
        """Keep the review durably; `AlreadyReviewed` if the grant has one."""
        ...

    def all(self) -> dict[str, Review]:
        """Every review, by the grant's decision id."""
        ...

    def close(self) -> None: ...


class SqliteBreakGlassReviews:
    def __init__(self, path: Path) -> None:
        self._db = PrivateSqlite(path, schema=_SCHEMA)

    def keep(self, review: Review) -> None:
        try:
            with self._db.transaction(durable=True) as db:
                db.execute(
                    "INSERT INTO break_glass_reviews (decision_id, outcome, note, reviewed_by, "
                    "agency, reviewed_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        review.decision_id,
                        review.outcome.value,
                        review.note,
                        review.reviewed_by,
                        review.agency,
                        review.reviewed_at.isoformat(),
                    ),
                )
        except sqlite3.IntegrityError:
            raise AlreadyReviewed("this emergency access has already been reviewed") from None

    def all(self) -> dict[str, Review]:
        with self._db.reading() as db:
            rows = db.execute(
                "SELECT decision_id, outcome, note, reviewed_by, agency, reviewed_at "
                "FROM break_glass_reviews"
            ).fetchall()
        return {
            row[0]: Review(
                decision_id=row[0],
                outcome=ReviewOutcome(row[1]),
                note=row[2],
                reviewed_by=row[3],
                agency=row[4],
                reviewed_at=dt.datetime.fromisoformat(row[5]),
            )
            for row in rows
        }

    def close(self) -> None:
        self._db.close()
