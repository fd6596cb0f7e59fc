"""The register's durable store: one SQLite file (WAL) under the data directory.

Tables (personal data is sealed under the child's data key, see services/hubkit/child_keys.py;
an NHS number is stored only as its keyed child reference):

    child_keys        child_ref -> the child's wrapped data key (erasure deletes this row)
    plans             (child_ref, plan_type) -> sealed plan; plan_end in clear for the purge
    applied_notices   notice ids already applied (a notice is applied once, ever)
    plan_changes      every applied change, sealed under the child's key, in arrival order:
                      a withdrawn change (issue 18) is taken out and the plan worked out
                      again from the rest
    feed_positions    per feed partition, the next offset to read, written in the same
                      transaction as what was read: the register and its place in the feed
                      never disagree, and a lost register rebuilds from the feed's start
    accesses          every lookup: when, by whom (token subject), organisation, setting,
                      HIT / MISS / REFUSED; child_ref only for a HIT
    outbox            access notifications not yet acknowledged by the broker (sealed
                      Avro-encoded notices), written in the same transaction as the access
    emergency_requests, emergency_grants, emergency_refusals
                      emergency access (issue 18, domain/emergency.py): the requests this
                      register sent (ids, the child, the clinician's subject, when), the
                      hub's grants (content sealed under the child's key, deleted at expiry:
                      the row stays so the clinician learns when access ended) and refusals
                      (explanation sealed). A grant or refusal for a request this register
                      did not send is not kept: it cannot be tied to a child here.

`SqliteRegisterStore` is the real store; `RegisterStore` is the port the service layer uses.
Calls block (SQLite); async callers run them in a thread. Errors surface as StoreError.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from services.cpis.domain.access import Access, AccessOutcome
from services.cpis.domain.emergency import EmergencyGrant, EmergencyRefusal, HeldNotice
from services.cpis.domain.register import (
    Effect,
    Plan,
    PlanChange,
    PlanType,
    apply_change,
    plan_after,
)
from services.cpis.errors import StoreError
from services.hubkit.child_keys import ChildKeys, open_sealed, seal
from services.hubkit.errors import SealingError

__all__ = [
    "EmergencyAnswer",
    "FeedPosition",
    "OutboxItem",
    "RegisterStore",
    "SqliteRegisterStore",
]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS child_keys (
    child_ref    TEXT PRIMARY KEY,
    wrapped_key  BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plans (
    child_ref  TEXT NOT NULL,
    plan_type  TEXT NOT NULL,
    plan_end   TEXT,
    sealed     BLOB NOT NULL,
    PRIMARY KEY (child_ref, plan_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS applied_notices (
    notice_id      TEXT PRIMARY KEY,
    effect         TEXT NOT NULL,
    applied_at_ms  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS plan_changes (
    notice_id  TEXT PRIMARY KEY,
    child_ref  TEXT NOT NULL,
    plan_type  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    sealed     BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS plan_changes_by_plan ON plan_changes (child_ref, plan_type, seq);
CREATE TABLE IF NOT EXISTS feed_positions (
    topic        TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    next_offset  INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accesses (
    access_id     TEXT PRIMARY KEY,
    child_ref     TEXT,
    at_ms         INTEGER NOT NULL,
    actor         TEXT NOT NULL,
    organisation  TEXT,
    setting       TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN ('HIT', 'MISS', 'REFUSED'))
);
CREATE INDEX IF NOT EXISTS accesses_by_child ON accesses (child_ref, at_ms);
CREATE TABLE IF NOT EXISTS emergency_requests (
    request_id         TEXT PRIMARY KEY,
    child_ref          TEXT NOT NULL,
    requester_subject  TEXT NOT NULL,
    notice_id          TEXT NOT NULL,
    requested_ms       INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS emergency_grants (
    request_id  TEXT PRIMARY KEY,
    child_ref   TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    ended_ms    INTEGER,
    sealed      BLOB
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS emergency_refusals (
    request_id  TEXT PRIMARY KEY,
    child_ref   TEXT NOT NULL,
    refused_ms  INTEGER NOT NULL,
    sealed      BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    notice_id      TEXT PRIMARY KEY,
    child_ref      TEXT NOT NULL,
    sealed         BLOB NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
"""

OutboxItem = tuple[str, bytes]
"""(notice id, Avro single-object-encoded SafeguardingNotice)."""
FeedPosition = tuple[str, int, int]
"""(topic, partition, next offset to read)."""


@dataclass(frozen=True, slots=True)
class EmergencyAnswer:
    """What the register holds about one emergency access request."""

    requester_subject: str
    grant: EmergencyGrant | None
    """With its content while it runs; `view` None once deleted."""
    refused: EmergencyRefusal | None
    ended_at: dt.datetime | None
    """When the grant's content was deleted."""


class RegisterStore(Protocol):
    def apply(
        self, change: PlanChange, *, now_ms: int, position: FeedPosition | None = None
    ) -> Effect | None:
        """Apply a plan change once (None when this notice id was applied before), and move
        the feed position past it in the same transaction."""
        ...

    def withdraw(self, notice_id: str, *, position: FeedPosition | None = None) -> Effect | None:
        """Take a withdrawn notice's change out of its plan's history and work the plan out
        again from the rest (WITHDRAWN), moving the feed position in the same transaction;
        None when the register holds no change from that notice."""
        ...

    def advance(self, position: FeedPosition) -> None:
        """Move the feed position past a record that changes nothing (skipped)."""
        ...

    def feed_positions(self, topic: str) -> dict[int, int]:
        """Partition -> next offset to read, for the partitions read so far."""
        ...

    def plans(self, nhs_number: str) -> list[Plan]: ...

    def record_access(
        self, access: Access, *, nhs_number: str | None, outbox: Sequence[OutboxItem] = ()
    ) -> None:
        """Record the access and queue its notifications, in one transaction."""
        ...

    def access_history(
        self, nhs_number: str, *, limit: int
    ) -> list[tuple[dt.datetime, str, str]]: ...

    def pending_notifications(self, *, limit: int) -> list[OutboxItem]: ...

    def notification_sent(self, notice_id: str) -> None: ...

    def notification_failed(self, notice_id: str) -> None: ...

    def purge(self, *, today: dt.date, held_days: int) -> int: ...

    def erase(self, nhs_number: str) -> None: ...

    def close(self) -> None: ...

    # Emergency access (issue 18)

    def held_notices(self, nhs_number: str) -> list[HeldNotice]:
        """The plan change notices applied for the child, newest first."""
        ...

    def emergency_asked(
        self,
        nhs_number: str,
        *,
        request_id: str,
        requester_subject: str,
        notice_id: str,
        at: dt.datetime,
    ) -> None: ...

    def keep_grant(
        self, grant: EmergencyGrant, *, now: dt.datetime, position: FeedPosition | None = None
    ) -> bool | None:
        """Keep a grant apart from plan changes (content only while it runs); True when new,
        False when kept before, None when this register sent no such request."""
        ...

    def keep_refusal(
        self, refused: EmergencyRefusal, *, position: FeedPosition | None = None
    ) -> bool | None: ...

    def emergency_answer(self, request_id: str) -> EmergencyAnswer | None: ...

    def expire_grants(self, now: dt.datetime) -> int:
        """Delete the content of every grant past its expiry; how many."""
        ...


def _ms(value: dt.datetime) -> int:
    return int(value.timestamp() * 1000)


def _from_ms(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)


def _plan_json(plan: Plan) -> bytes:
    return json.dumps(
        {
            "start": plan.start.isoformat(),
            "end": plan.end.isoformat() if plan.end else None,
            "responsible_la": plan.responsible_la,
            "la_contact": plan.la_contact,
            "linkage_key": plan.linkage_key,
            "recorded_at_ms": _ms(plan.recorded_at),
        },
        separators=(",", ":"),
    ).encode()


def _plan_from(plan_type: str, raw: bytes) -> Plan:
    data = json.loads(raw)
    return Plan(
        plan_type=PlanType(plan_type),
        start=dt.date.fromisoformat(data["start"]),
        end=dt.date.fromisoformat(data["end"]) if data["end"] else None,
        responsible_la=data["responsible_la"],
        la_contact=data["la_contact"],
        linkage_key=data["linkage_key"],
        recorded_at=_from_ms(int(data["recorded_at_ms"])),
    )


def _change_json(change: PlanChange) -> bytes:
    return json.dumps(
        {
            "notice_id": change.notice_id,
            "recorded_at_ms": _ms(change.recorded_at),
            "nhs_number": change.nhs_number,
            "linkage_key": change.linkage_key,
            "responsible_la": change.responsible_la,
            "plan_type": change.plan_type.value,
            "starts": change.starts,
            "effective_date": change.effective_date.isoformat(),
            "la_contact": change.la_contact,
            "fields_withheld": list(change.fields_withheld),
        },
        separators=(",", ":"),
    ).encode()


def _change_from(raw: bytes) -> PlanChange:
    data = json.loads(raw)
    return PlanChange(
        notice_id=data["notice_id"],
        recorded_at=_from_ms(int(data["recorded_at_ms"])),
        nhs_number=data["nhs_number"],
        linkage_key=data["linkage_key"],
        responsible_la=data["responsible_la"],
        plan_type=PlanType(data["plan_type"]),
        starts=bool(data["starts"]),
        effective_date=dt.date.fromisoformat(data["effective_date"]),
        la_contact=data["la_contact"],
        fields_withheld=tuple(data.get("fields_withheld") or ()),
    )


def _change_aad(child_ref: str, notice_id: str) -> bytes:
    return f"change:{child_ref}:{notice_id}".encode()


def _plan_aad(child_ref: str, plan_type: str) -> bytes:
    return f"plan:{child_ref}:{plan_type}".encode()


def _grant_aad(child_ref: str, request_id: str) -> bytes:
    return f"emergency-grant:{child_ref}:{request_id}".encode()


def _refusal_aad(child_ref: str, request_id: str) -> bytes:
    return f"emergency-refusal:{child_ref}:{request_id}".encode()


CSC_STATUS_CHANGE = "CSC_STATUS_CHANGE"
"""The only notice type the register applies (domain/register.py)."""


def _grant_json(grant: EmergencyGrant) -> bytes:
    return json.dumps(
        {
            "notice_id": grant.notice_id,
            "linkage_key": grant.linkage_key,
            "requester_role": grant.requester_role,
            "reason": grant.reason,
            "expires_at_ms": _ms(grant.expires_at),
            "source_agency": grant.source_agency,
            "view": grant.view,
            "caveat": grant.caveat,
        },
        separators=(",", ":"),
    ).encode()


def _grant_from(request_id: str, subject: str, raw: bytes) -> EmergencyGrant:
    data = json.loads(raw)
    return EmergencyGrant(
        request_id=request_id,
        notice_id=data["notice_id"],
        linkage_key=data["linkage_key"],
        requester_subject=subject,
        requester_role=data["requester_role"],
        reason=data["reason"],
        expires_at=_from_ms(int(data["expires_at_ms"])),
        source_agency=data["source_agency"],
        view=data["view"],
        caveat=data["caveat"],
    )


def _ended_grant(request_id: str, subject: str, expires_at: dt.datetime) -> EmergencyGrant:
    """A grant whose content is gone: only what says when it ended."""
    return EmergencyGrant(
        request_id=request_id,
        notice_id="",
        linkage_key="",
        requester_subject=subject,
        requester_role="",
        reason="",
        expires_at=expires_at,
        source_agency="",
        view=None,
        caveat="",
    )


def _outbox_aad(notice_id: str) -> bytes:
    return f"outbox:{notice_id}".encode()


class SqliteRegisterStore:
    """The register in one SQLite file. Safe across threads (one connection, one lock)."""

    def __init__(self, path: Path, keys: ChildKeys) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = path
        self._keys = keys
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as error:
            raise StoreError(f"cannot open the CP-IS register at {path}: {error}") from error

    # -- helpers --------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                raise StoreError(f"the CP-IS register is unavailable ({error})") from error
            except SealingError as error:
                raise StoreError(str(error)) from None

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                return query(self._db)
            except sqlite3.Error as error:
                raise StoreError(f"the CP-IS register is unavailable ({error})") from error
            except SealingError as error:
                raise StoreError(str(error)) from None

    def _child_ref(self, nhs_number: str) -> str:
        return self._keys.child_ref("nhs", nhs_number)

    def _data_key(self, db: sqlite3.Connection, child_ref: str, *, create: bool) -> bytes | None:
        row = db.execute(
            "SELECT wrapped_key FROM child_keys WHERE child_ref = ?", (child_ref,)
        ).fetchone()
        if row is not None:
            return self._keys.unwrap(child_ref, bytes(row[0]))
        if not create:
            return None
        data_key, wrapped = self._keys.new_data_key(child_ref)
        db.execute(
            "INSERT INTO child_keys (child_ref, wrapped_key) VALUES (?, ?)", (child_ref, wrapped)
        )
        return data_key

    def _plans(self, db: sqlite3.Connection, child_ref: str) -> list[Plan]:
        key = self._data_key(db, child_ref, create=False)
        if key is None:
            return []
        rows = db.execute(
            "SELECT plan_type, sealed FROM plans WHERE child_ref = ? ORDER BY plan_type",
            (child_ref,),
        ).fetchall()
        return [
            _plan_from(kind, open_sealed(key, bytes(sealed), aad=_plan_aad(child_ref, kind)))
            for kind, sealed in rows
        ]

    # -- the port ---------------------------------------------------------------------------

    @staticmethod
    def _advance(db: sqlite3.Connection, position: FeedPosition | None) -> None:
        if position is not None:
            db.execute(
                "INSERT INTO feed_positions (topic, partition, next_offset) VALUES (?, ?, ?) "
                "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = "
                "max(next_offset, excluded.next_offset)",
                position,
            )

    def advance(self, position: FeedPosition) -> None:
        with self._transaction() as db:
            self._advance(db, position)

    def feed_positions(self, topic: str) -> dict[int, int]:
        rows = self._read(
            lambda db: db.execute(
                "SELECT partition, next_offset FROM feed_positions WHERE topic = ?", (topic,)
            ).fetchall()
        )
        return {int(partition): int(offset) for partition, offset in rows}

    def apply(
        self, change: PlanChange, *, now_ms: int, position: FeedPosition | None = None
    ) -> Effect | None:
        child_ref = self._child_ref(change.nhs_number)
        kind = change.plan_type.value
        with self._transaction() as db:
            self._advance(db, position)
            if db.execute(
                "SELECT 1 FROM applied_notices WHERE notice_id = ?", (change.notice_id,)
            ).fetchone():
                return None
            held = self._plans(db, child_ref)
            current = next((p for p in held if p.plan_type.value == kind), None)
            transition = apply_change(current, change)
            if transition.changed and transition.plan is not None:
                # A child's key is made with their first plan, never for a change that
                # leaves nothing held (an end the register never saw start).
                key = self._data_key(db, child_ref, create=True)
                assert key is not None
                self._put_plan(db, key, child_ref, transition.plan)
            # Kept so a withdrawn change can be taken out later. A change with no child key
            # held nothing and changed nothing: withdrawing it could change nothing either.
            key = self._data_key(db, child_ref, create=False)
            if key is not None:
                db.execute(
                    "INSERT INTO plan_changes (notice_id, child_ref, plan_type, seq, sealed) "
                    "VALUES (?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM plan_changes), ?)",
                    (
                        change.notice_id,
                        child_ref,
                        kind,
                        seal(
                            key, _change_json(change), aad=_change_aad(child_ref, change.notice_id)
                        ),
                    ),
                )
            db.execute(
                "INSERT INTO applied_notices (notice_id, effect, applied_at_ms) VALUES (?, ?, ?)",
                (change.notice_id, transition.effect.value, now_ms),
            )
        return transition.effect

    @staticmethod
    def _put_plan(db: sqlite3.Connection, key: bytes, child_ref: str, plan: Plan) -> None:
        kind = plan.plan_type.value
        db.execute(
            "INSERT INTO plans (child_ref, plan_type, plan_end, sealed) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (child_ref, plan_type) DO UPDATE SET "
            "plan_end = excluded.plan_end, sealed = excluded.sealed",
            (
                child_ref,
                kind,
                plan.end.isoformat() if plan.end else None,
                seal(key, _plan_json(plan), aad=_plan_aad(child_ref, kind)),
            ),
        )

    def withdraw(self, notice_id: str, *, position: FeedPosition | None = None) -> Effect | None:
        with self._transaction() as db:
            self._advance(db, position)
            row = db.execute(
                "SELECT child_ref, plan_type FROM plan_changes WHERE notice_id = ?", (notice_id,)
            ).fetchone()
            if row is None:
                return None
            child_ref, kind = str(row[0]), str(row[1])
            key = self._data_key(db, child_ref, create=False)
            if key is None:  # pragma: no cover - erasure deletes the changes with the key
                return None
            db.execute("DELETE FROM plan_changes WHERE notice_id = ?", (notice_id,))
            remaining = [
                _change_from(open_sealed(key, bytes(sealed), aad=_change_aad(child_ref, nid)))
                for nid, sealed in db.execute(
                    "SELECT notice_id, sealed FROM plan_changes WHERE child_ref = ? AND "
                    "plan_type = ? ORDER BY seq",
                    (child_ref, kind),
                ).fetchall()
            ]
            plan = plan_after(remaining)
            if plan is None:
                db.execute(
                    "DELETE FROM plans WHERE child_ref = ? AND plan_type = ?", (child_ref, kind)
                )
            else:
                self._put_plan(db, key, child_ref, plan)
        return Effect.WITHDRAWN

    def plans(self, nhs_number: str) -> list[Plan]:
        child_ref = self._child_ref(nhs_number)
        return self._read(lambda db: self._plans(db, child_ref))

    def record_access(
        self, access: Access, *, nhs_number: str | None, outbox: Sequence[OutboxItem] = ()
    ) -> None:
        if (nhs_number is None) != (access.outcome is not AccessOutcome.HIT):
            raise ValueError("only a HIT is recorded against a child")
        child_ref = self._child_ref(nhs_number) if nhs_number is not None else None
        with self._transaction() as db:
            db.execute(
                "INSERT INTO accesses (access_id, child_ref, at_ms, actor, organisation, "
                "setting, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    access.access_id,
                    child_ref,
                    _ms(access.at),
                    access.actor,
                    access.organisation,
                    access.setting.value if access.setting else None,
                    access.outcome.value,
                ),
            )
            if outbox:
                assert child_ref is not None
                key = self._data_key(db, child_ref, create=False)
                if key is None:
                    raise StoreError("no data key for a child with a plan (register damaged)")
                db.executemany(
                    "INSERT INTO outbox (notice_id, child_ref, sealed, created_at_ms) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (
                            notice_id,
                            child_ref,
                            seal(key, payload, aad=_outbox_aad(notice_id)),
                            _ms(access.at),
                        )
                        for notice_id, payload in outbox
                    ],
                )

    def access_history(self, nhs_number: str, *, limit: int) -> list[tuple[dt.datetime, str, str]]:
        child_ref = self._child_ref(nhs_number)
        rows = self._read(
            lambda db: db.execute(
                "SELECT at_ms, setting, organisation FROM accesses "
                "WHERE child_ref = ? AND outcome = 'HIT' ORDER BY at_ms DESC LIMIT ?",
                (child_ref, limit),
            ).fetchall()
        )
        return [(_from_ms(int(at)), str(setting), str(org)) for at, setting, org in rows]

    def pending_notifications(self, *, limit: int) -> list[OutboxItem]:
        def query(db: sqlite3.Connection) -> list[OutboxItem]:
            rows = db.execute(
                "SELECT notice_id, child_ref, sealed FROM outbox "
                "ORDER BY created_at_ms, notice_id LIMIT ?",
                (limit,),
            ).fetchall()
            pending: list[OutboxItem] = []
            for notice_id, child_ref, sealed in rows:
                key = self._data_key(db, child_ref, create=False)
                if key is not None:
                    pending.append(
                        (notice_id, open_sealed(key, bytes(sealed), aad=_outbox_aad(notice_id)))
                    )
            return pending

        return self._read(query)

    def notification_sent(self, notice_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM outbox WHERE notice_id = ?", (notice_id,))

    def notification_failed(self, notice_id: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE outbox SET attempts = attempts + 1 WHERE notice_id = ?", (notice_id,)
            )

    def purge(self, *, today: dt.date, held_days: int) -> int:
        """Erase plans that ended more than `held_days` before `today`; a child with nothing
        left held (and no notification still to send) is erased entirely. Returns how many
        plans went."""
        cutoff = (today - dt.timedelta(days=held_days)).isoformat()
        with self._transaction() as db:
            gone = db.execute(
                "DELETE FROM plans WHERE plan_end IS NOT NULL AND plan_end < ?", (cutoff,)
            ).rowcount
            # A purged plan's history goes with it.
            db.execute(
                "DELETE FROM plan_changes WHERE NOT EXISTS (SELECT 1 FROM plans p WHERE "
                "p.child_ref = plan_changes.child_ref AND p.plan_type = plan_changes.plan_type)"
            )
            orphans = [
                str(row[0])
                for row in db.execute(
                    "SELECT child_ref FROM child_keys WHERE child_ref NOT IN "
                    "(SELECT child_ref FROM plans) AND child_ref NOT IN "
                    "(SELECT child_ref FROM outbox)"
                ).fetchall()
            ]
            for child_ref in orphans:
                self._erase(db, child_ref)
        return int(gone)

    def erase(self, nhs_number: str) -> None:
        """Erase everything held about one child (issue 18's erasure: the key goes first)."""
        child_ref = self._child_ref(nhs_number)
        with self._transaction() as db:
            self._erase(db, child_ref)

    @staticmethod
    def _erase(db: sqlite3.Connection, child_ref: str) -> None:
        for table in (
            "child_keys",
            "plans",
            "plan_changes",
            "outbox",
            "accesses",
            "emergency_requests",
            "emergency_grants",
            "emergency_refusals",
        ):
            db.execute(f"DELETE FROM {table} WHERE child_ref = ?", (child_ref,))

    # -- emergency access (issue 18) ------------------------------------------------------------

    def held_notices(self, nhs_number: str) -> list[HeldNotice]:
        child_ref = self._child_ref(nhs_number)

        def query(db: sqlite3.Connection) -> list[HeldNotice]:
            key = self._data_key(db, child_ref, create=False)
            if key is None:
                return []
            rows = db.execute(
                "SELECT notice_id, sealed FROM plan_changes WHERE child_ref = ? ORDER BY seq DESC",
                (child_ref,),
            ).fetchall()
            changes = [
                _change_from(open_sealed(key, bytes(sealed), aad=_change_aad(child_ref, nid)))
                for nid, sealed in rows
            ]
            return [
                HeldNotice(
                    notice_id=c.notice_id,
                    notice_type=CSC_STATUS_CHANGE,
                    linkage_key=c.linkage_key,
                    fields_withheld=c.fields_withheld,
                )
                for c in changes
            ]

        return self._read(query)

    def emergency_asked(
        self,
        nhs_number: str,
        *,
        request_id: str,
        requester_subject: str,
        notice_id: str,
        at: dt.datetime,
    ) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO emergency_requests (request_id, child_ref, "
                "requester_subject, notice_id, requested_ms) VALUES (?, ?, ?, ?, ?)",
                (request_id, self._child_ref(nhs_number), requester_subject, notice_id, _ms(at)),
            )

    @staticmethod
    def _asked_for(db: sqlite3.Connection, request_id: str) -> str | None:
        row = db.execute(
            "SELECT child_ref FROM emergency_requests WHERE request_id = ?", (request_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def keep_grant(
        self, grant: EmergencyGrant, *, now: dt.datetime, position: FeedPosition | None = None
    ) -> bool | None:
        with self._transaction() as db:
            self._advance(db, position)
            child_ref = self._asked_for(db, grant.request_id)
            if child_ref is None:
                return None
            if db.execute(
                "SELECT 1 FROM emergency_grants WHERE request_id = ?", (grant.request_id,)
            ).fetchone():
                return False
            key = self._data_key(db, child_ref, create=False)
            sealed = None
            ended = None
            if key is None or grant.ended(now) or grant.view is None:
                ended = _ms(min(now, grant.expires_at)) if key is not None else _ms(now)
            else:
                sealed = seal(key, _grant_json(grant), aad=_grant_aad(child_ref, grant.request_id))
            db.execute(
                "INSERT INTO emergency_grants (request_id, child_ref, expires_ms, ended_ms, "
                "sealed) VALUES (?, ?, ?, ?, ?)",
                (grant.request_id, child_ref, _ms(grant.expires_at), ended, sealed),
            )
        return True

    def keep_refusal(
        self, refused: EmergencyRefusal, *, position: FeedPosition | None = None
    ) -> bool | None:
        with self._transaction() as db:
            self._advance(db, position)
            child_ref = self._asked_for(db, refused.request_id)
            if child_ref is None:
                return None
            if db.execute(
                "SELECT 1 FROM emergency_refusals WHERE request_id = ?", (refused.request_id,)
            ).fetchone():
                return False
            key = self._data_key(db, child_ref, create=False)
            if key is None:  # the child was erased since: nothing to tell
                return None
            db.execute(
                "INSERT INTO emergency_refusals (request_id, child_ref, refused_ms, sealed) "
                "VALUES (?, ?, ?, ?)",
                (
                    refused.request_id,
                    child_ref,
                    _ms(refused.refused_at),
                    seal(
                        key,
                        refused.explanation.encode(),
                        aad=_refusal_aad(child_ref, refused.request_id),
                    ),
                ),
            )
        return True

    def emergency_answer(self, request_id: str) -> EmergencyAnswer | None:
        def query(db: sqlite3.Connection) -> EmergencyAnswer | None:
            asked = db.execute(
                "SELECT child_ref, requester_subject FROM emergency_requests WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if asked is None:
                return None
            child_ref, subject = str(asked[0]), str(asked[1])
            key = self._data_key(db, child_ref, create=False)
            grant = None
            ended_at = None
            row = db.execute(
                "SELECT expires_ms, ended_ms, sealed FROM emergency_grants WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if row is not None:
                expires, ended, sealed = int(row[0]), row[1], row[2]
                ended_at = None if ended is None else _from_ms(int(ended))
                if sealed is not None and key is not None:
                    raw = open_sealed(key, bytes(sealed), aad=_grant_aad(child_ref, request_id))
                    grant = _grant_from(request_id, subject, raw)
                else:
                    grant = _ended_grant(request_id, subject, _from_ms(expires))
            refused = None
            row = db.execute(
                "SELECT refused_ms, sealed FROM emergency_refusals WHERE request_id = ?",
                (request_id,),
            ).fetchone()
            if row is not None and key is not None:
                text = open_sealed(key, bytes(row[1]), aad=_refusal_aad(child_ref, request_id))
                refused = EmergencyRefusal(request_id, text.decode(), _from_ms(int(row[0])))
            return EmergencyAnswer(subject, grant, refused, ended_at)

        return self._read(query)

    def expire_grants(self, now: dt.datetime) -> int:
        with self._transaction() as db:
            gone = db.execute(
                "UPDATE emergency_grants SET sealed = NULL, ended_ms = ? "
                "WHERE sealed IS NOT NULL AND expires_ms <= ?",
                (_ms(now), _ms(now)),
            ).rowcount
        return int(gone)

    def close(self) -> None:
        with self._lock:
            self._db.close()
