"""Who has acknowledged which immediate-danger alert (domain/views/alerts.py).

In the console's own database when it has one (`runtime.database`), so an acknowledged
alert stays acknowledged after a restart; in memory otherwise (unit tests that build the
runtime without one). Keyed by the person's identity provider subject: an acknowledgement is
one person's, and a colleague still sees the alert. Rows hold ids only, no personal data.
"""

from __future__ import annotations

import datetime as dt

from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["DangerAcknowledgements"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS danger_acknowledgements (
    subject TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    acknowledged_at TEXT NOT NULL,
    PRIMARY KEY (subject, notice_id)
);
"""


class DangerAcknowledgements:
    def __init__(self, database: PrivateSqlite | None = None) -> None:
        self._database = database
        self._memory: dict[str, set[str]] = {}
        if database is not None:
            database.ensure_schema(_SCHEMA)

    def of(self, subject: str) -> frozenset[str]:
        """The notice ids this person has acknowledged."""
        if self._database is None:
            return frozenset(self._memory.get(subject, ()))
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT notice_id FROM danger_acknowledgements WHERE subject = ?", (subject,)
            ).fetchall()
        return frozenset(str(row["notice_id"]) for row in rows)

    def acknowledge(self, subject: str, notice_id: str, *, at: dt.datetime) -> None:
        """Idempotent: acknowledging twice keeps the first time."""
        if self._database is None:
            self._memory.setdefault(subject, set()).add(notice_id)
            return
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO danger_acknowledgements VALUES (?, ?, ?)",
                (subject, notice_id, at.isoformat()),
            )
