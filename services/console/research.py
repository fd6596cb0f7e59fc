"""The agency checks ledger: research requests and partners' findings, in the console's own
database (`runtime.database`), so a request made this morning is still there after a restart.

The rules are pure (domain/research.py); this module reads the current state and writes what
the rules admit, inside one transaction. Findings are free text about a child from a
partner's own records: they stay here, inside the MASH (the firewall, DOMAIN.md). They are
never published to the bus; the audit log gets ids, codes and digests (routes/research.py).

An answer is written with `transaction(durable=True)` and only while the request has none
(`UPDATE ... WHERE answered_at IS NULL` inside the same transaction as the read), so of two
people at one partner desk exactly one answer is recorded.

Without a database (page tests of other features build the runtime without one) the same
SQL runs on a private in-memory SQLite connection.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from services.console.domain.research import (
    AlreadyAnswered,
    Answered,
    FindingsInput,
    NotYours,
    ResearchCheck,
    Researcher,
    ResearchFindings,
    ResearchRequest,
    admit_answer,
)
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["ResearchLedger"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS research_requests (
    request_id TEXT PRIMARY KEY,
    notice_id TEXT NOT NULL,
    child_key TEXT NOT NULL,
    partner TEXT NOT NULL,
    requested_by_subject TEXT NOT NULL,
    requested_by_name TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    due_by TEXT NOT NULL,
    question TEXT,
    answered_by_subject TEXT,
    answered_by_name TEXT,
    answered_at TEXT,
    nothing_known INTEGER,
    findings TEXT,
    partner_rag TEXT,
    UNIQUE (notice_id, partner)
);
CREATE INDEX IF NOT EXISTS research_by_partner
    ON research_requests (partner, answered_at, due_by);
"""


class _Database(Protocol):
    def ensure_schema(self, schema: str) -> None: ...

    def transaction(
        self, *, durable: bool = False
    ) -> AbstractContextManager[sqlite3.Connection]: ...

    def reading(self) -> AbstractContextManager[sqlite3.Connection]: ...


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


class _MemoryDatabase:
    """PrivateSqlite's three methods over a private in-memory connection."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    def ensure_schema(self, schema: str) -> None:
        with self._lock:
            self._db.executescript(schema)

    @contextmanager
    def transaction(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db


def _check(row: sqlite3.Row) -> ResearchCheck:
    requested_at, due_by = _time(row["requested_at"]), _time(row["due_by"])
    assert requested_at is not None
    assert due_by is not None
    request = ResearchRequest(
        request_id=row["request_id"],
        notice_id=row["notice_id"],
        child_key=row["child_key"],
        partner=row["partner"],
        requested_by=Researcher(row["requested_by_subject"], row["requested_by_name"]),
        requested_at=requested_at,
        due_by=due_by,
        question=row["question"],
    )
    answered_at = _time(row["answered_at"])
    if answered_at is None:
        return ResearchCheck(request)
    return ResearchCheck(
        request,
        ResearchFindings(
            nothing_known=bool(row["nothing_known"]),
            findings=row["findings"] or "",
            partner_rag=row["partner_rag"],
            answered_by=Researcher(row["answered_by_subject"], row["answered_by_name"]),
            answered_at=answered_at,
        ),
    )


class ResearchLedger:
    def __init__(self, database: PrivateSqlite | None = None) -> None:
        self._db: _Database = _MemoryDatabase() if database is None else database
        self._db.ensure_schema(SCHEMA)

    def ask(self, requests: Sequence[ResearchRequest]) -> list[ResearchRequest]:
        """Record the requests; one per contact and partner (asking again changes nothing).
        Returns those recorded now."""
        made = []
        with self._db.transaction(durable=True) as db:
            for r in requests:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO research_requests (request_id, notice_id, child_key, "
                    "partner, requested_by_subject, requested_by_name, requested_at, due_by, "
                    "question) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        r.request_id,
                        r.notice_id,
                        r.child_key,
                        r.partner,
                        r.requested_by.subject,
                        r.requested_by.name,
                        r.requested_at.isoformat(),
                        r.due_by.isoformat(),
                        r.question,
                    ),
                )
                if cursor.rowcount:
                    made.append(r)
        return made

    def get(self, request_id: str) -> ResearchCheck | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT * FROM research_requests WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else _check(row)

    def for_notices(self, notice_ids: Iterable[str]) -> list[ResearchCheck]:
        """Every check on these contacts (the decision makers' view), oldest first."""
        wanted = list(dict.fromkeys(notice_ids))
        checks: list[ResearchCheck] = []
        with self._db.reading() as db:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT * FROM research_requests WHERE notice_id IN ({marks}) "
                    "ORDER BY requested_at, request_id",
                    chunk,
                ).fetchall()
                checks += [_check(row) for row in rows]
        return checks

    def for_partner(self, partner: str, *, limit: int = 200) -> list[ResearchCheck]:
        """A partner desk's checks: every open one, and the latest answered ones."""
        with self._db.reading() as db:
            open_rows = db.execute(
                "SELECT * FROM research_requests WHERE partner = ? AND answered_at IS NULL "
                "ORDER BY due_by, requested_at",
                (partner,),
            ).fetchall()
            answered = db.execute(
                "SELECT * FROM research_requests WHERE partner = ? AND answered_at IS NOT NULL "
                "ORDER BY answered_at DESC LIMIT ?",
                (partner, limit),
            ).fetchall()
        return [_check(row) for row in [*open_rows, *answered]]

    def open_count(self, partner: str) -> int:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT COUNT(*) AS n FROM research_requests "
                "WHERE partner = ? AND answered_at IS NULL",
                (partner,),
            ).fetchone()
        return int(row["n"])

    def answer(
        self,
        request_id: str,
        answer: FindingsInput,
        *,
        subscriber_id: str | None,
        answerer: Researcher,
        at: dt.datetime,
    ) -> Answered | AlreadyAnswered | NotYours:
        with self._db.transaction(durable=True) as db:
            row = db.execute(
                "SELECT * FROM research_requests WHERE request_id = ?", (request_id,)
            ).fetchone()
            outcome = admit_answer(
                None if row is None else _check(row),
                answer,
                subscriber_id=subscriber_id,
                answerer=answerer,
                at=at,
            )
            if isinstance(outcome, Answered):
                db.execute(
                    "UPDATE research_requests SET answered_by_subject = ?, answered_by_name = ?, "
                    "answered_at = ?, nothing_known = ?, findings = ?, partner_rag = ? "
                    "WHERE request_id = ? AND answered_at IS NULL",
                    (
                        answerer.subject,
                        answerer.name,
                        at.isoformat(),
                        int(answer.nothing_known),
                        answer.findings,
                        answer.partner_rag,
                        request_id,
                    ),
                )
            return outcome

    def withdraw_requests(self, request_ids: Sequence[str]) -> None:
        """Forget requests whose audit event could not be written (nothing unaudited stands);
        only while unanswered."""
        with self._db.transaction() as db:
            db.executemany(
                "DELETE FROM research_requests WHERE request_id = ? AND answered_at IS NULL",
                [(i,) for i in request_ids],
            )

    def withdraw_answer(self, request_id: str, *, answered_at: dt.datetime, subject: str) -> None:
        """Forget this person's answer, recorded at `answered_at`, whose audit event could not
        be written: the check is open again."""
        with self._db.transaction(durable=True) as db:
            db.execute(
                "UPDATE research_requests SET answered_by_subject = NULL, answered_by_name = NULL, "
                "answered_at = NULL, nothing_known = NULL, findings = NULL, partner_rag = NULL "
                "WHERE request_id = ? AND answered_at = ? AND answered_by_subject = ?",
                (request_id, answered_at.isoformat(), subject),
            )
