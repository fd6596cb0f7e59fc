"""Emergency access grants kept apart from the desk's items, in the console's database
(issue 18; what a grant is: domain/break_glass.py).

A grant arrives on the desk's feed as a FeedItem with `break_glass` set, under the same
notice id as the desk's own item: the feed follower (feeds.py) hands it here and never to the
projection, so the desk's item is never replaced. Each grant is one row of
`break_glass_grants`, its content (the FeedItem as the console holds it) sealed with
AES-256-GCM under the child's ledger key (ledger_sealing.py: the same `child_keys` table and
store key as every sealed value here, associated data naming the table, the request id and
the column), so erasing the child makes it unreadable. What stays clear: ids, the child's
pseudonymous linkage key, the requester's pseudonymous subject and role, the reason code and
the expiry (what the page needs to decide whether to show anything).

At expiry the content is deleted (`expire`, run before every read and by the console's
sweep): the sealed column is set to NULL (freed pages are zeroed: secure_delete) and the
write-ahead log truncated; the row stays, so the page can say when access ended. A grant
arriving after its expiry (a feed read again from its start) is kept without its content.

The requests this console sent are kept too (`break_glass_requests`: ids, the linkage key,
the requester's subject, when), so the notice page can say it is waiting for the hub.

The hub's other answers (domain/break_glass_answers.py) are kept here the same way: a
refusal (`break_glass_refusals`, on the desk that asked) ends the wait for its request and
is told to the person who asked; an owner's alert (`break_glass_alerts`, on the owning
agency's alert desk) is listed for everyone at that desk. Clear: ids, the desk, the notice
id, the linkage key, the requester's pseudonymous subject and the times (what decides who
sees what, and when); sealed under the child's ledger key: the refusal's explanation and
the paths asked for, and all of the alert (the agency's reference, who was given what and
why in their own words). Both are idempotent on their ids (a feed read again changes
nothing) and go with the child in `erase_child`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
from collections.abc import Mapping
from typing import Any

from services.console.domain.break_glass import Grant
from services.console.domain.break_glass_answers import OwnerAlert, Refusal
from services.console.domain.feed import entry_from_feed_item
from services.console.domain.views.queue_index import epoch_ms
from services.console.ledger_sealing import ChildLedgerKeys, LedgerDatabase, scrub_log
from services.console.projection_store import item_json
from services.console.research import memory_database
from services.hubkit.child_keys import KEY_BYTES, ChildKeys

__all__ = ["BreakGlassGrants", "PendingRequest"]

_TABLE = "break_glass_grants"

SCHEMA = """
CREATE TABLE IF NOT EXISTS break_glass_grants (
    request_id TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    linkage_key TEXT NOT NULL,
    requester_subject TEXT NOT NULL,
    requester_role TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    item_sealed BLOB
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS break_glass_grants_notice ON break_glass_grants
    (subscriber_id, notice_id);
CREATE INDEX IF NOT EXISTS break_glass_grants_child ON break_glass_grants (linkage_key);
CREATE TABLE IF NOT EXISTS break_glass_requests (
    request_id TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    linkage_key TEXT NOT NULL,
    requester_subject TEXT NOT NULL,
    requested_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS break_glass_requests_notice ON break_glass_requests
    (subscriber_id, notice_id, requester_subject);
CREATE TABLE IF NOT EXISTS break_glass_refusals (
    request_id TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    linkage_key TEXT NOT NULL,
    requester_subject TEXT NOT NULL,
    refused_ms INTEGER NOT NULL,
    refusal_sealed BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS break_glass_refusals_notice ON break_glass_refusals
    (subscriber_id, notice_id);
CREATE INDEX IF NOT EXISTS break_glass_refusals_child ON break_glass_refusals (linkage_key);
CREATE TABLE IF NOT EXISTS break_glass_alerts (
    alert_id TEXT PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    linkage_key TEXT NOT NULL,
    granted_ms INTEGER NOT NULL,
    alert_sealed BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS break_glass_alerts_desk ON break_glass_alerts
    (subscriber_id, granted_ms);
CREATE INDEX IF NOT EXISTS break_glass_alerts_child ON break_glass_alerts (linkage_key);
"""

_REFUSALS = "break_glass_refusals"
_ALERTS = "break_glass_alerts"


def _time(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


class PendingRequest:
    """A request this console sent that no grant has answered yet (as far as it knows)."""

    __slots__ = ("request_id", "requested_at")

    def __init__(self, request_id: str, requested_at: dt.datetime) -> None:
        self.request_id = request_id
        self.requested_at = requested_at


class BreakGlassGrants:
    """`keys`: the console store's ChildKeys; required with a database (what it seals must
    open after a restart). Without one, a private in-memory SQLite under a key of its own."""

    def __init__(self, database: LedgerDatabase | None = None, keys: ChildKeys | None = None):
        if database is not None and keys is None:
            raise ValueError("emergency access grants on disk need the console's child keys")
        self._db: LedgerDatabase = memory_database() if database is None else database
        self._sealing = ChildLedgerKeys(
            keys or ChildKeys(secrets.token_bytes(KEY_BYTES), store="console")
        )
        self._sealing.prepare(self._db)
        self._db.ensure_schema(SCHEMA)

    # -- writing -----------------------------------------------------------------------------

    def keep(self, grant: Grant, *, now: dt.datetime) -> bool:
        """Keep a grant from the feed (idempotent on its request id: a redelivered grant,
        even one whose content was deleted, changes nothing). Content is kept only while the
        grant runs. True when it was new."""
        with self._db.transaction(durable=True) as db:
            exists = db.execute(
                f"SELECT 1 FROM {_TABLE} WHERE request_id = ?", (grant.request_id,)
            ).fetchone()
            if exists:
                return False
            sealed = None
            if grant.entry is not None and not grant.ended(now):
                sealed = self._sealing.seal(
                    db,
                    grant.linkage_key,
                    item_json(grant.entry),
                    table=_TABLE,
                    row_id=grant.request_id,
                    column="item",
                )
            db.execute(
                f"INSERT INTO {_TABLE} (request_id, subscriber_id, notice_id, linkage_key, "
                "requester_subject, requester_role, reason, expires_ms, item_sealed) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    grant.request_id,
                    grant.subscriber_id,
                    grant.notice_id,
                    grant.linkage_key,
                    grant.requester_subject,
                    grant.requester_role,
                    grant.reason,
                    epoch_ms(grant.expires_at),
                    sealed,
                ),
            )
        return True

    def asked(
        self,
        *,
        request_id: str,
        subscriber_id: str,
        notice_id: str,
        linkage_key: str,
        requester_subject: str,
        at: dt.datetime,
    ) -> None:
        """Remember a request this console published (so the page can say it is waiting)."""
        with self._db.transaction(durable=True) as db:
            db.execute(
                "INSERT OR IGNORE INTO break_glass_requests (request_id, subscriber_id, "
                "notice_id, linkage_key, requester_subject, requested_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    request_id,
                    subscriber_id,
                    notice_id,
                    linkage_key,
                    requester_subject,
                    epoch_ms(at),
                ),
            )

    def keep_refusal(self, refusal: Refusal) -> bool:
        """Keep the hub's refusal of a request (idempotent on the request id); True when new."""
        sealed_text = json.dumps(
            {
                "decision_id": refusal.decision_id,
                "requested_paths": list(refusal.requested_paths),
                "reason_code": refusal.reason_code,
                "explanation": refusal.explanation,
            },
            sort_keys=True,
        )
        return self._keep_once(
            _REFUSALS,
            key=("request_id", refusal.request_id),
            linkage_key=refusal.linkage_key,
            sealed=("refusal", sealed_text),
            columns={
                "subscriber_id": refusal.subscriber_id,
                "notice_id": refusal.notice_id,
                "requester_subject": refusal.requester_subject,
                "refused_ms": epoch_ms(refusal.refused_at),
            },
        )

    def keep_alert(self, alert: OwnerAlert) -> bool:
        """Keep an owner's alert (idempotent on the alert id); True when new."""
        sealed_text = json.dumps(
            {
                "request_id": alert.request_id,
                "grant_decision_id": alert.grant_decision_id,
                "source_reference": alert.source_reference,
                "source_agency": alert.source_agency,
                "granted_to_subscriber_id": alert.granted_to_subscriber_id,
                "granted_to_role": alert.granted_to_role,
                "reason": alert.reason,
                "justification": alert.justification,
                "granted_paths": list(alert.granted_paths),
                "expires_ms": epoch_ms(alert.expires_at),
            },
            sort_keys=True,
        )
        return self._keep_once(
            _ALERTS,
            key=("alert_id", alert.alert_id),
            linkage_key=alert.linkage_key,
            sealed=("alert", sealed_text),
            columns={
                "subscriber_id": alert.subscriber_id,
                "notice_id": alert.notice_id,
                "granted_ms": epoch_ms(alert.granted_at),
            },
        )

    def _keep_once(
        self,
        table: str,
        *,
        key: tuple[str, str],
        linkage_key: str,
        sealed: tuple[str, str],
        columns: Mapping[str, object],
    ) -> bool:
        """Insert one row of a hub answer (refusal, alert) unless its id is kept already, its
        content sealed under the child's key (column `<name>_sealed`, bound to the table and
        row); True when new. One durable transaction, so a feed read again changes nothing."""
        key_column, key_value = key
        column, plaintext = sealed
        with self._db.transaction(durable=True) as db:
            if db.execute(f"SELECT 1 FROM {table} WHERE {key_column} = ?", (key_value,)).fetchone():
                return False
            value = self._sealing.seal(
                db, linkage_key, plaintext, table=table, row_id=key_value, column=column
            )
            row = {key_column: key_value, "linkage_key": linkage_key, **columns}
            row[f"{column}_sealed"] = value
            names = ", ".join(row)
            marks = ", ".join("?" for _ in row)
            db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))
        return True

    def expire(self, now: dt.datetime) -> int:
        """Delete the content of every grant whose access has ended; how many."""
        with self._db.reading() as db:  # every page view asks: write only when there is some
            due = db.execute(
                f"SELECT 1 FROM {_TABLE} WHERE item_sealed IS NOT NULL AND expires_ms <= ? LIMIT 1",
                (epoch_ms(now),),
            ).fetchone()
        if due is None:
            return 0
        with self._db.transaction(durable=True) as db:
            deleted = db.execute(
                f"UPDATE {_TABLE} SET item_sealed = NULL "
                "WHERE item_sealed IS NOT NULL AND expires_ms <= ?",
                (epoch_ms(now),),
            ).rowcount
        if deleted:
            scrub_log(self._db)
        return int(deleted)

    def holds_child(self, linkage_key: str) -> bool:
        """Whether a grant, request, refusal or alert still names the child, or its ledger
        key is still kept (the erasure job's readable check)."""
        tables = (_TABLE, "break_glass_requests", _REFUSALS, _ALERTS)
        union = " UNION ALL ".join(f"SELECT 1 FROM {t} WHERE linkage_key = ?" for t in tables)
        with self._db.reading() as db:
            named = db.execute(f"{union} LIMIT 1", (linkage_key,) * len(tables)).fetchone()
            return named is not None or self._sealing.holds(db, linkage_key)

    def erase_child(self, linkage_key: str) -> int:
        """Erase one child's grants, requests, refusals and alerts (issue 18's erasure): the
        child's ledger key and the rows, in one transaction; how many grants went."""
        with self._db.transaction(durable=True) as db:
            self._sealing.erase(db, linkage_key)
            erased = db.execute(
                f"DELETE FROM {_TABLE} WHERE linkage_key = ?", (linkage_key,)
            ).rowcount
            db.execute("DELETE FROM break_glass_requests WHERE linkage_key = ?", (linkage_key,))
            db.execute(f"DELETE FROM {_REFUSALS} WHERE linkage_key = ?", (linkage_key,))
            db.execute(f"DELETE FROM {_ALERTS} WHERE linkage_key = ?", (linkage_key,))
        scrub_log(self._db)
        return int(erased)

    # -- reading -----------------------------------------------------------------------------

    def for_notice(self, subscriber_id: str, notice_id: str, *, now: dt.datetime) -> list[Grant]:
        """Every grant of this notice in this desk's feed, ended ones without content (the
        content of those is deleted first)."""
        self.expire(now)
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT * FROM {_TABLE} WHERE subscriber_id = ? AND notice_id = ?",
                (subscriber_id, notice_id),
            ).fetchall()
            return [self._grant(db, row) for row in rows]

    def pending(
        self, subscriber_id: str, notice_id: str, requester_subject: str
    ) -> PendingRequest | None:
        """This person's latest request on this notice that no grant or refusal answers yet."""
        with self._db.reading() as db:
            row = db.execute(
                "SELECT r.request_id, r.requested_ms FROM break_glass_requests r "
                f"LEFT JOIN {_TABLE} g ON g.request_id = r.request_id "
                f"LEFT JOIN {_REFUSALS} f ON f.request_id = r.request_id "
                "WHERE r.subscriber_id = ? AND r.notice_id = ? AND r.requester_subject = ? "
                "AND g.request_id IS NULL AND f.request_id IS NULL "
                "ORDER BY r.requested_ms DESC LIMIT 1",
                (subscriber_id, notice_id, requester_subject),
            ).fetchone()
        if row is None:
            return None
        return PendingRequest(str(row["request_id"]), _time(int(row["requested_ms"])))

    def refusals_for(self, subscriber_id: str, notice_id: str) -> list[Refusal]:
        """Every refusal of a request on this notice from this desk (whoever asked: the page
        shows only the viewer's own, domain/break_glass_answers.py)."""
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT * FROM {_REFUSALS} WHERE subscriber_id = ? AND notice_id = ?",
                (subscriber_id, notice_id),
            ).fetchall()
            return [self._refusal(db, row) for row in rows]

    def alerts_for(self, subscriber_id: str) -> list[OwnerAlert]:
        """Every owner's alert on this desk, latest grant first."""
        with self._db.reading() as db:
            rows = db.execute(
                f"SELECT * FROM {_ALERTS} WHERE subscriber_id = ? ORDER BY granted_ms DESC",
                (subscriber_id,),
            ).fetchall()
            return [self._alert(db, row) for row in rows]

    def alert_count(self, subscriber_id: str) -> int:
        """How many owner's alerts this desk holds (the navigation's count; nothing opened)."""
        with self._db.reading() as db:
            row = db.execute(
                f"SELECT COUNT(*) FROM {_ALERTS} WHERE subscriber_id = ?", (subscriber_id,)
            ).fetchone()
        return int(row[0])

    def _refusal(self, db: sqlite3.Connection, row: sqlite3.Row) -> Refusal:
        sealed = self._opened(db, row, _REFUSALS, key_column="request_id", column="refusal")
        return Refusal(
            request_id=str(row["request_id"]),
            decision_id=str(sealed["decision_id"]),
            notice_id=str(row["notice_id"]),
            subscriber_id=str(row["subscriber_id"]),
            linkage_key=str(row["linkage_key"]),
            requester_subject=str(row["requester_subject"]),
            requested_paths=tuple(sealed["requested_paths"]),
            reason_code=str(sealed["reason_code"]),
            explanation=str(sealed["explanation"]),
            refused_at=_time(int(row["refused_ms"])),
        )

    def _opened(
        self, db: sqlite3.Connection, row: sqlite3.Row, table: str, *, key_column: str, column: str
    ) -> dict[str, Any]:
        """The sealed JSON of a row `_keep_once` wrote (column `<name>_sealed`), opened under
        the child's key with the same table and row binding."""
        text = self._sealing.open(
            db,
            row["linkage_key"],
            row[f"{column}_sealed"],
            table=table,
            row_id=row[key_column],
            column=column,
        )
        opened: dict[str, Any] = json.loads(text or "{}")
        return opened

    def _alert(self, db: sqlite3.Connection, row: sqlite3.Row) -> OwnerAlert:
        sealed = self._opened(db, row, _ALERTS, key_column="alert_id", column="alert")
        return OwnerAlert(
            alert_id=str(row["alert_id"]),
            request_id=str(sealed["request_id"]),
            grant_decision_id=str(sealed["grant_decision_id"]),
            notice_id=str(row["notice_id"]),
            source_reference=sealed["source_reference"],
            subscriber_id=str(row["subscriber_id"]),
            linkage_key=str(row["linkage_key"]),
            source_agency=str(sealed["source_agency"]),
            granted_to_subscriber_id=str(sealed["granted_to_subscriber_id"]),
            granted_to_role=str(sealed["granted_to_role"]),
            reason=str(sealed["reason"]),
            justification=str(sealed["justification"]),
            granted_paths=tuple(sealed["granted_paths"]),
            granted_at=_time(int(row["granted_ms"])),
            expires_at=_time(int(sealed["expires_ms"])),
        )

    def _grant(self, db: sqlite3.Connection, row: sqlite3.Row) -> Grant:
        text = self._sealing.open(
            db,
            row["linkage_key"],
            row["item_sealed"],
            table=_TABLE,
            row_id=row["request_id"],
            column="item",
        )
        return Grant(
            request_id=str(row["request_id"]),
            notice_id=str(row["notice_id"]),
            subscriber_id=str(row["subscriber_id"]),
            linkage_key=str(row["linkage_key"]),
            requester_subject=str(row["requester_subject"]),
            requester_role=str(row["requester_role"]),
            reason=str(row["reason"]),
            expires_at=_time(int(row["expires_ms"])),
            entry=None if text is None else entry_from_feed_item(json.loads(text)),
        )
