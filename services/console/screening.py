"""The screening ledger: who is screening each contact and who decided it, in the console's
own database, so that a contact is decided once even across a restart.

The rules are pure (domain/screening.py); this module reads the current states and writes
what the rules admit, inside one transaction. A decision is written with
`transaction(durable=True)` (it waits for the disk) before its notice is published: the
ledger, not the bus, is what says a contact is taken, so the loser of a race publishes
nothing. The notice is then marked sent when the hub acknowledges it; a decision the hub
did not acknowledge stays recorded (its contact stays decided) and the person sends the
same form again, which publishes the same notice id (never a second decision).

Only names, ids, codes and times are kept here in clear; rationales stay in the published
notice. The one piece of free text, an amendment's reason, is sealed under the child's data
key (ledger_sealing.py, issue 18), bound to its decision id: a database from before sealing
has it sealed on open (under the child its decision's own feed item names; a reason whose
child is no longer in any feed is dropped from the ledger, and stays in the published
amendment). `erase_child` deletes the child's key and blanks the reason and the child's
linkage key; the decisions stay recorded (their contacts stay decided).

`MemoryLedger` is for runtimes built without a database (unit tests of other pages); the
running console always has one (runtime.py).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Protocol

from services.console.domain.screening import (
    Admitted,
    Allocation,
    AllocationRefused,
    AlreadyRecorded,
    ContactState,
    LostRace,
    RecordedDecision,
    Screener,
    admit_decision,
    assign,
    release,
)
from services.console.ledger_sealing import ChildLedgerKeys, scrub_log
from services.hubkit.child_keys import ChildKeys
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["MemoryLedger", "ScreeningLedger", "SqliteLedger"]

log = logging.getLogger("safehub.console.screening")
_DECISIONS = "screening_decisions"

SCHEMA = """
CREATE TABLE IF NOT EXISTS screening_decisions (
    decision_id TEXT PRIMARY KEY,
    form_token TEXT NOT NULL UNIQUE,
    decided_by_subject TEXT NOT NULL,
    decided_by_name TEXT NOT NULL,
    decided_by_role TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rag TEXT NOT NULL,
    covers TEXT NOT NULL,
    amends TEXT,
    amend_reason_sealed BLOB,
    sent_at TEXT,
    child_key TEXT
);
CREATE TABLE IF NOT EXISTS screening_contacts (
    notice_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0,
    current_decision TEXT REFERENCES screening_decisions (decision_id),
    screener_subject TEXT,
    screener_name TEXT,
    taken_at TEXT,
    assigned_by_subject TEXT,
    assigned_by_name TEXT
);
"""
# Columns added to a table after its first release: added in place to an older database.
_ADDED_COLUMNS = {
    "screening_contacts": ("assigned_by_subject TEXT", "assigned_by_name TEXT"),
    _DECISIONS: ("amend_reason_sealed BLOB", "child_key TEXT"),
}


class ScreeningLedger(Protocol):
    def states(self, notice_ids: Iterable[str]) -> dict[str, ContactState]:
        """The contacts' states; a contact nobody took or decided is left out."""
        ...

    def decision(self, decision_id: str) -> RecordedDecision | None: ...

    def record(
        self, proposed: RecordedDecision, *, rendered: Mapping[str, int]
    ) -> Admitted | AlreadyRecorded | LostRace: ...

    def mark_sent(self, decision_id: str, at: dt.datetime) -> None: ...

    def take(
        self, notice_id: str, *, screener: Screener, at: dt.datetime, may_reassign: bool
    ) -> Allocation | AllocationRefused: ...

    def release(
        self, notice_id: str, *, screener: Screener, may_reassign: bool
    ) -> AllocationRefused | None: ...

    def assign(
        self, notice_id: str, *, to: Screener, by: Screener, at: dt.datetime, may_reassign: bool
    ) -> Allocation | AllocationRefused: ...

    def erase_child(self, child_key: str) -> int:
        """Blank what the decisions made from this child's record hold about them (the
        amendment reason, the linkage key); the number of decisions blanked."""
        ...

    def holds_child(self, child_key: str) -> bool:
        """Whether a decision still names the child, or its ledger key is still kept."""
        ...


def _time(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value)


def _decision_row(row: sqlite3.Row, amend_reason: str | None) -> RecordedDecision:
    decided_at = _time(row["decided_at"])
    assert decided_at is not None  # NOT NULL
    return RecordedDecision(
        decision_id=row["decision_id"],
        form_token=row["form_token"],
        decided_by=Screener(row["decided_by_subject"], row["decided_by_name"]),
        decided_by_role=row["decided_by_role"],
        decided_at=decided_at,
        outcome=row["outcome"],
        rag=row["rag"],
        covers=tuple(json.loads(row["covers"])),
        amends=row["amends"],
        amend_reason=amend_reason,
        sent_at=_time(row["sent_at"]),
        child_key=row["child_key"],
    )


class SqliteLedger:
    """`keys`: the console store's ChildKeys (the projections' own)."""

    def __init__(self, database: PrivateSqlite, keys: ChildKeys) -> None:
        self._sealing = ChildLedgerKeys(keys)
        self._sealing.prepare(database)
        database.ensure_schema(SCHEMA)
        self._db = database
        with database.transaction(durable=True) as db:
            for table, columns in _ADDED_COLUMNS.items():
                present = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                for column in columns:
                    if column.split()[0] not in present:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
            sealed_now = self._seal_clear_reasons(db)
        if sealed_now:
            scrub_log(database)

    def _seal_clear_reasons(self, db: sqlite3.Connection) -> bool:
        """A ledger from before sealing kept amendment reasons in clear: seal each under the
        child its decision was made from (the decision's own feed item, or a covered
        contact's, names the child's linkage key), or drop it when no feed holds either
        (the reason stays in the published amendment); then drop the clear column."""
        present = {r["name"] for r in db.execute(f"PRAGMA table_info({_DECISIONS})")}
        if "amend_reason" not in present:
            return False
        has_feed = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'feed_entries'"
        ).fetchone()
        dropped = 0
        for row in db.execute(
            f"SELECT decision_id, covers, amend_reason FROM {_DECISIONS} "
            "WHERE amend_reason IS NOT NULL"
        ).fetchall():
            notice_ids = [row["decision_id"], *json.loads(row["covers"])]
            child_key = None
            for notice_id in notice_ids if has_feed else ():
                found = db.execute(
                    "SELECT linkage_key FROM feed_entries WHERE notice_id = ? LIMIT 1",
                    (notice_id,),
                ).fetchone()
                if found is not None:
                    child_key = str(found["linkage_key"])
                    break
            if child_key is None:
                dropped += 1
            db.execute(
                f"UPDATE {_DECISIONS} SET child_key = ?, amend_reason_sealed = ? "
                "WHERE decision_id = ?",
                (
                    child_key,
                    None
                    if child_key is None
                    else self._seal(db, child_key, row["amend_reason"], row["decision_id"]),
                    row["decision_id"],
                ),
            )
        db.execute(f"ALTER TABLE {_DECISIONS} DROP COLUMN amend_reason")
        log.info(
            "amendment reasons kept in clear before sealing: sealed",
            extra={"dropped_without_child": dropped},
        )
        return True

    def _seal(
        self, db: sqlite3.Connection, child_key: str, reason: str | None, decision_id: str
    ) -> bytes | None:
        return self._sealing.seal(
            db, child_key, reason, table=_DECISIONS, row_id=decision_id, column="amend_reason"
        )

    def _decision(self, db: sqlite3.Connection, row: sqlite3.Row) -> RecordedDecision:
        sealed = row["amend_reason_sealed"]
        reason = (
            None
            if sealed is None
            else self._sealing.open(
                db,
                row["child_key"],
                sealed,
                table=_DECISIONS,
                row_id=row["decision_id"],
                column="amend_reason",
            )
        )
        return _decision_row(row, reason)

    def _states(self, db: sqlite3.Connection, notice_ids: Iterable[str]) -> dict[str, ContactState]:
        wanted = list(dict.fromkeys(notice_ids))
        states: dict[str, ContactState] = {}
        # A queue page asks for ~50 at once; SQLite allows 32766 parameters per statement.
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(
                "SELECT c.notice_id, c.version, c.screener_subject, c.screener_name, "
                "c.taken_at, c.assigned_by_subject, c.assigned_by_name, d.* "
                "FROM screening_contacts c LEFT JOIN screening_decisions d "
                f"ON d.decision_id = c.current_decision WHERE c.notice_id IN ({marks})",
                chunk,
            ).fetchall()
            for row in rows:
                taken_at = _time(row["taken_at"])
                assigned_by = (
                    Screener(row["assigned_by_subject"], row["assigned_by_name"])
                    if row["assigned_by_subject"] is not None
                    else None
                )
                allocation = (
                    Allocation(
                        Screener(row["screener_subject"], row["screener_name"]),
                        taken_at,
                        assigned_by,
                    )
                    if row["screener_subject"] is not None and taken_at is not None
                    else None
                )
                decision = self._decision(db, row) if row["decision_id"] is not None else None
                states[row["notice_id"]] = ContactState(
                    row["notice_id"], row["version"], allocation, decision
                )
        return states

    def states(self, notice_ids: Iterable[str]) -> dict[str, ContactState]:
        with self._db.reading() as db:
            return self._states(db, notice_ids)

    def decision(self, decision_id: str) -> RecordedDecision | None:
        with self._db.reading() as db:
            row = db.execute(
                "SELECT * FROM screening_decisions WHERE decision_id = ?", (decision_id,)
            ).fetchone()
            return None if row is None else self._decision(db, row)

    def record(
        self, proposed: RecordedDecision, *, rendered: Mapping[str, int]
    ) -> Admitted | AlreadyRecorded | LostRace:
        with self._db.transaction(durable=True) as db:
            same = db.execute(
                "SELECT * FROM screening_decisions WHERE form_token = ?", (proposed.form_token,)
            ).fetchone()
            outcome = admit_decision(
                proposed,
                current=self._states(db, proposed.covers),
                rendered=rendered,
                same_form=None if same is None else self._decision(db, same),
            )
            if not isinstance(outcome, Admitted):
                return outcome
            d = outcome.decision
            if d.amend_reason is not None and d.child_key is None:
                raise ValueError("an amendment reason is kept only with the child it is about")
            db.execute(
                "INSERT INTO screening_decisions (decision_id, form_token, decided_by_subject, "
                "decided_by_name, decided_by_role, decided_at, outcome, rag, covers, amends, "
                "amend_reason_sealed, sent_at, child_key) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    d.decision_id,
                    d.form_token,
                    d.decided_by.subject,
                    d.decided_by.name,
                    d.decided_by_role,
                    d.decided_at.isoformat(),
                    d.outcome,
                    d.rag,
                    json.dumps(list(d.covers)),
                    d.amends,
                    None
                    if d.child_key is None
                    else self._seal(db, d.child_key, d.amend_reason, d.decision_id),
                    None,
                    d.child_key,
                ),
            )
            for notice_id, version in outcome.versions.items():
                # Decided: nobody is screening it any more; the decision says who did.
                db.execute(
                    "INSERT INTO screening_contacts (notice_id, version, current_decision) "
                    "VALUES (?, ?, ?) ON CONFLICT (notice_id) DO UPDATE SET "
                    "version = excluded.version, current_decision = excluded.current_decision, "
                    "screener_subject = NULL, screener_name = NULL, taken_at = NULL, "
                    "assigned_by_subject = NULL, assigned_by_name = NULL",
                    (notice_id, version, d.decision_id),
                )
            return outcome

    def mark_sent(self, decision_id: str, at: dt.datetime) -> None:
        with self._db.transaction() as db:
            db.execute(
                "UPDATE screening_decisions SET sent_at = ? "
                "WHERE decision_id = ? AND sent_at IS NULL",
                (at.isoformat(), decision_id),
            )

    def take(
        self, notice_id: str, *, screener: Screener, at: dt.datetime, may_reassign: bool
    ) -> Allocation | AllocationRefused:
        return self.assign(notice_id, to=screener, by=screener, at=at, may_reassign=may_reassign)

    def assign(
        self, notice_id: str, *, to: Screener, by: Screener, at: dt.datetime, may_reassign: bool
    ) -> Allocation | AllocationRefused:
        with self._db.transaction() as db:
            state = self._states(db, [notice_id]).get(notice_id) or ContactState(notice_id)
            given = assign(state, to=to, by=by, at=at, may_reassign=may_reassign)
            if isinstance(given, Allocation) and given != state.allocation:
                assigned_by = given.assigned_by
                db.execute(
                    "INSERT INTO screening_contacts (notice_id, screener_subject, "
                    "screener_name, taken_at, assigned_by_subject, assigned_by_name) "
                    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (notice_id) DO UPDATE SET "
                    "screener_subject = excluded.screener_subject, "
                    "screener_name = excluded.screener_name, taken_at = excluded.taken_at, "
                    "assigned_by_subject = excluded.assigned_by_subject, "
                    "assigned_by_name = excluded.assigned_by_name",
                    (
                        notice_id,
                        given.screener.subject,
                        given.screener.name,
                        given.taken_at.isoformat(),
                        assigned_by.subject if assigned_by else None,
                        assigned_by.name if assigned_by else None,
                    ),
                )
            return given

    def release(
        self, notice_id: str, *, screener: Screener, may_reassign: bool
    ) -> AllocationRefused | None:
        with self._db.transaction() as db:
            state = self._states(db, [notice_id]).get(notice_id) or ContactState(notice_id)
            refused = release(state, screener=screener, may_reassign=may_reassign)
            if refused is None:
                db.execute(
                    "UPDATE screening_contacts SET screener_subject = NULL, "
                    "screener_name = NULL, taken_at = NULL, assigned_by_subject = NULL, "
                    "assigned_by_name = NULL WHERE notice_id = ?",
                    (notice_id,),
                )
            return refused

    def holds_child(self, child_key: str) -> bool:
        with self._db.reading() as db:
            named = db.execute(
                f"SELECT 1 FROM {_DECISIONS} WHERE child_key = ? LIMIT 1", (child_key,)
            ).fetchone()
            return named is not None or self._sealing.holds(db, child_key)

    def erase_child(self, child_key: str) -> int:
        """The child's ledger key goes in the same transaction as the reasons sealed under
        it and the linkage key; the write-ahead log is truncated after."""
        with self._db.transaction(durable=True) as db:
            self._sealing.erase(db, child_key)
            blanked = db.execute(
                f"UPDATE {_DECISIONS} SET amend_reason_sealed = NULL, child_key = NULL "
                "WHERE child_key = ?",
                (child_key,),
            ).rowcount
        scrub_log(self._db)
        return int(blanked)


class MemoryLedger:
    """The same ledger in memory: for runtimes without a database (unit tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contacts: dict[str, ContactState] = {}
        self._decisions: dict[str, RecordedDecision] = {}

    def states(self, notice_ids: Iterable[str]) -> dict[str, ContactState]:
        with self._lock:
            return {i: self._contacts[i] for i in notice_ids if i in self._contacts}

    def decision(self, decision_id: str) -> RecordedDecision | None:
        with self._lock:
            return self._decisions.get(decision_id)

    def record(
        self, proposed: RecordedDecision, *, rendered: Mapping[str, int]
    ) -> Admitted | AlreadyRecorded | LostRace:
        with self._lock:
            same = next(
                (d for d in self._decisions.values() if d.form_token == proposed.form_token),
                None,
            )
            current = {i: self._contacts[i] for i in proposed.covers if i in self._contacts}
            outcome = admit_decision(proposed, current=current, rendered=rendered, same_form=same)
            if isinstance(outcome, Admitted):
                self._decisions[proposed.decision_id] = proposed
                for notice_id, version in outcome.versions.items():
                    self._contacts[notice_id] = ContactState(notice_id, version, None, proposed)
            return outcome

    def mark_sent(self, decision_id: str, at: dt.datetime) -> None:
        with self._lock:
            decision = self._decisions.get(decision_id)
            if decision is None or decision.sent_at is not None:
                return
            sent = replace(decision, sent_at=at)
            self._decisions[decision_id] = sent
            for notice_id, state in self._contacts.items():
                if state.decision is not None and state.decision.decision_id == decision_id:
                    self._contacts[notice_id] = replace(state, decision=sent)

    def take(
        self, notice_id: str, *, screener: Screener, at: dt.datetime, may_reassign: bool
    ) -> Allocation | AllocationRefused:
        return self.assign(notice_id, to=screener, by=screener, at=at, may_reassign=may_reassign)

    def assign(
        self, notice_id: str, *, to: Screener, by: Screener, at: dt.datetime, may_reassign: bool
    ) -> Allocation | AllocationRefused:
        with self._lock:
            state = self._contacts.get(notice_id) or ContactState(notice_id)
            given = assign(state, to=to, by=by, at=at, may_reassign=may_reassign)
            if isinstance(given, Allocation):
                self._contacts[notice_id] = replace(state, allocation=given)
            return given

    def release(
        self, notice_id: str, *, screener: Screener, may_reassign: bool
    ) -> AllocationRefused | None:
        with self._lock:
            state = self._contacts.get(notice_id) or ContactState(notice_id)
            refused = release(state, screener=screener, may_reassign=may_reassign)
            if refused is None:
                self._contacts[notice_id] = replace(state, allocation=None)
            return refused

    def holds_child(self, child_key: str) -> bool:
        with self._lock:
            return any(d.child_key == child_key for d in self._decisions.values())

    def erase_child(self, child_key: str) -> int:
        with self._lock:
            blanked = {
                i: replace(d, amend_reason=None, child_key=None)
                for i, d in self._decisions.items()
                if d.child_key == child_key
            }
            self._decisions.update(blanked)
            for notice_id, state in self._contacts.items():
                if state.decision is not None and state.decision.decision_id in blanked:
                    self._contacts[notice_id] = replace(
                        state, decision=blanked[state.decision.decision_id]
                    )
            return len(blanked)
