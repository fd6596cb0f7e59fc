"""The agency checks ledger: research requests and partners' findings, in the console's own
database (`runtime.database`), so a request made this morning is still there after a restart.

The rules are pure (domain/research.py); this module reads the current state and writes what
the rules admit, inside one transaction. Findings are free text about a child from a
partner's own records: they stay here, inside the MASH (the firewall, DOMAIN.md). They are
never published to the bus; the audit log gets ids, codes and digests (routes/research.py).

The question and the findings are kept sealed under the child's data key (ledger_sealing.py,
issue 18), bound to their request id and column; the rest of a row is ids, codes, staff names
and times, which the queries need. A database from before sealing has its clear columns
sealed and dropped on open. `erase_child` deletes the child's key and the child's checks.

An answer is written with `transaction(durable=True)` and only while the request has none
(`UPDATE ... WHERE answered_at IS NULL` inside the same transaction as the read), so of two
people at one partner desk exactly one answer is recorded.

Without a database (page tests of other features build the runtime without one) the same
SQL runs on a private in-memory SQLite connection.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

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
from services.console.ledger_sealing import ChildLedgerKeys, LedgerDatabase, scrub_log
from services.hubkit.child_keys import KEY_BYTES, ChildKeys
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["ResearchLedger", "memory_database"]

log = logging.getLogger("safehub.console.research")
_TABLE = "research_requests"

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
    question_sealed BLOB,
    answered_by_subject TEXT,
    answered_by_name TEXT,
    answered_at TEXT,
    nothing_known INTEGER,
    findings_sealed BLOB,
    partner_rag TEXT,
    UNIQUE (notice_id, partner)
);
CREATE INDEX IF NOT EXISTS research_by_partner
    ON research_requests (partner, answered_at, due_by);
"""

# Columns kept in clear before sealing (issue 18): sealed into their *_sealed twin on open.
_CLEAR_COLUMNS = ("question", "findings")


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


def memory_database() -> LedgerDatabase:
    """A private in-memory database with PrivateSqlite's three methods (a ledger of a
    runtime built without the console's database: unit tests)."""
    return _MemoryDatabase()


def _check(row: sqlite3.Row, question: str | None, findings: str | None) -> ResearchCheck:
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
        question=question,
    )
    answered_at = _time(row["answered_at"])
    if answered_at is None:
        return ResearchCheck(request)
    return ResearchCheck(
        request,
        ResearchFindings(
            nothing_known=bool(row["nothing_known"]),
            findings=findings or "",
            partner_rag=row["partner_rag"],
            answered_by=Researcher(row["answered_by_subject"], row["answered_by_name"]),
            answered_at=answered_at,
        ),
    )


class ResearchLedger:
    """`keys`: the console store's ChildKeys (the projections' own); required with a
    database, since what it seals must open after a restart. Without a database the ledger
    lives in memory under a key of its own."""

    def __init__(
        self, database: PrivateSqlite | None = None, keys: ChildKeys | None = None
    ) -> None:
        if database is not None and keys is None:
            raise ValueError("a research ledger on disk needs the console's child keys")
        self._db: LedgerDatabase = _MemoryDatabase() if database is None else database
        self._sealing = ChildLedgerKeys(
            keys or ChildKeys(secrets.token_bytes(KEY_BYTES), store="console")
        )
        self._sealing.prepare(self._db)
        if self._upgrade():
            scrub_log(self._db)
        self._db.ensure_schema(SCHEMA)

    def _upgrade(self) -> bool:
        """Seal the question and findings of a ledger kept before sealing, and drop their
        clear columns (secure_delete zeroes what they held). True when it did."""
        with self._db.transaction(durable=True) as db:
            columns = {r["name"] for r in db.execute(f"PRAGMA table_info({_TABLE})")}
            clear = [c for c in _CLEAR_COLUMNS if c in columns]
            if not clear:
                return False
            for column in clear:
                if f"{column}_sealed" not in columns:
                    db.execute(f"ALTER TABLE {_TABLE} ADD COLUMN {column}_sealed BLOB")
            rows = db.execute(
                f"SELECT request_id, child_key, {', '.join(clear)} FROM {_TABLE}"
            ).fetchall()
            for row in rows:
                for column in clear:
                    sealed = self._seal(
                        db, row["child_key"], row[column], row["request_id"], column
                    )
                    db.execute(
                        f"UPDATE {_TABLE} SET {column}_sealed = ? WHERE request_id = ?",
                        (sealed, row["request_id"]),
                    )
            for column in clear:
                db.execute(f"ALTER TABLE {_TABLE} DROP COLUMN {column}")
        log.info("agency checks kept in clear before sealing: sealed", extra={"rows": len(rows)})
        return True

    def _seal(
        self, db: sqlite3.Connection, child_key: str, text: str | None, request_id: str, column: str
    ) -> bytes | None:
        return self._sealing.seal(
            db, child_key, text, table=_TABLE, row_id=request_id, column=column
        )

    def _check(self, db: sqlite3.Connection, row: sqlite3.Row) -> ResearchCheck:
        def opened(column: str) -> str | None:
            return self._sealing.open(
                db,
                row["child_key"],
                row[f"{column}_sealed"],
                table=_TABLE,
                row_id=row["request_id"],
                column=column,
            )

        return _check(row, opened("question"), opened("findings"))

    def ask(self, requests: Sequence[ResearchRequest]) -> list[ResearchRequest]:
        """Record the requests; one per contact and partner (asking again changes nothing).
        Returns those recorded now."""
        made = []
        with self._db.transaction(durable=True) as db:
            for r in requests:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO research_requests (request_id, notice_id, child_key, "
                    "partner, requested_by_subject, requested_by_name, requested_at, due_by, "
                    "question_sealed) VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        r.request_id,
                        r.notice_id,
                        r.child_key,
                        r.partner,
                        r.requested_by.subject,
                        r.requested_by.name,
                        r.requested_at.isoformat(),
                        r.due_by.isoformat(),
                        self._seal(db, r.child_key, r.question, r.request_id, "question"),
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
            return None if row is None else self._check(db, row)

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
                checks += [self._check(db, row) for row in rows]
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
            return [self._check(db, row) for row in [*open_rows, *answered]]

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
                None if row is None else self._check(db, row),
                answer,
                subscriber_id=subscriber_id,
                answerer=answerer,
                at=at,
            )
            if isinstance(outcome, Answered):
                db.execute(
                    "UPDATE research_requests SET answered_by_subject = ?, answered_by_name = ?, "
                    "answered_at = ?, nothing_known = ?, findings_sealed = ?, partner_rag = ? "
                    "WHERE request_id = ? AND answered_at IS NULL",
                    (
                        answerer.subject,
                        answerer.name,
                        at.isoformat(),
                        int(answer.nothing_known),
                        self._seal(db, row["child_key"], answer.findings, request_id, "findings"),
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
                "UPDATE research_requests SET answered_by_subject = NULL, "
                "answered_by_name = NULL, answered_at = NULL, nothing_known = NULL, "
                "findings_sealed = NULL, partner_rag = NULL "
                "WHERE request_id = ? AND answered_at = ? AND answered_by_subject = ?",
                (request_id, answered_at.isoformat(), subject),
            )

    def holds_child(self, child_key: str) -> bool:
        """Whether anything of the child is left here: its ledger key or a check naming it."""
        with self._db.reading() as db:
            named = db.execute(
                f"SELECT 1 FROM {_TABLE} WHERE child_key = ? LIMIT 1", (child_key,)
            ).fetchone()
            return named is not None or self._sealing.holds(db, child_key)

    def erase_child(self, child_key: str) -> int:
        """Erase the child's checks (issue 18's erasure): the child's ledger key goes in the
        same transaction as their rows, so a copy of the file taken before still cannot open
        a question or a finding; the write-ahead log is truncated after. The number of checks
        that went (the audit log keeps that they were asked and answered, as digests)."""
        with self._db.transaction(durable=True) as db:
            self._sealing.erase(db, child_key)
            erased = db.execute(f"DELETE FROM {_TABLE} WHERE child_key = ?", (child_key,)).rowcount
        scrub_log(self._db)
        return int(erased)
