"""One subscriber's feed projection kept in the console's database, with the offsets it
reflects, so a restart continues where it stopped instead of replaying every feed from its
start (issue 16: 15-30 s for 90k items, minutes for a year of a large MASH).

What is kept, per subscriber:
- every item (the FeedItem as received, after its signature was verified on the way in) and
  its place in the queue (domain/views/queue_index.py: status, deadline, priority, filters),
  indexed in queue order, so a queue page reads one page of rows, not every item;
- which MASH decisions cover which notices (what triage reads);
- counts by status, agency and notice type (the queue's totals and its filter form);
- per partition of the feed, the offset up to which it has been applied.
A batch of one partition's records, the places it changed, the counts and that partition's
offset are written in one transaction: a crash leaves either all or none of it, so a restart
neither loses nor doubles an item (and apply is idempotent on notice id anyway).

A withdrawn notice (issue 18, domain/withdrawals.py) leaves feed_entries, its covers and its
count in the same transaction as the offset after its FeedRetraction; a tombstone row is kept
in feed_withdrawals (ids, reason, agency, times, the desk's acknowledgement: no content).
Tombstones are never dropped with a projection: a notice withdrawn stays withdrawn, even when
the feed read again from its start still holds the item but retention took the retraction.
The database deletes securely (`secure_delete`: freed pages are zeroed) and, after a batch
that withdrew something, the write-ahead log is checkpointed and truncated, so the withdrawn
content is not left in free pages or old log frames of the file.

Each item is kept sealed (issue 18, crypto-shredding): AES-256-GCM under its child's data
key (services/hubkit/child_keys.py), the key found by the child reference (HMAC of the item's
linkage key under the console's store key) in `child_keys`, wrapped; the associated data names
the subscriber and the notice, so a sealed item copied to another row does not open. What
stays clear is what SQL needs and is not personal beyond the pseudonymous linkage key: ids,
queue place (status, deadline, priority, RAG, agency, notice type, age band), counts and
withdrawal tombstones (README "What the console keeps at rest"). `erase_child` deletes the
child's key first, then its rows, and leaves no page or log frame of them in the file.

Places depend on the local timescales; a projection stored under other timescales (or an
older queue_index.PLACE_VERSION) is dropped at open and rebuilt from the feed's start.

`StoredProjection` answers the same questions as the in-memory domain.projection.
FeedProjection (the Projection protocol), with the same results (tests compare the two).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry, entry_from_feed_item
from services.console.domain.projection import Applied, Change, FeedMessage
from services.console.domain.provenance import provenance_record
from services.console.domain.views.queue_index import (
    QueueCursor,
    QueuePlace,
    QueueSlice,
    epoch_ms,
    queue_place,
    rules_fingerprint,
)
from services.console.domain.views.triage import Status, triage_of
from services.console.domain.withdrawals import Acknowledgement, Withdrawal
from services.hubkit.child_keys import ChildKeys, open_sealed, seal
from services.hubkit.errors import SealedValueUnreadable
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = ["StoredProjection", "item_json"]

log = logging.getLogger("safehub.console.projection")

SCHEMA = """
CREATE TABLE IF NOT EXISTS feed_projections (
    subscriber_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    rules TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feed_offsets (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
CREATE TABLE IF NOT EXISTS feed_entries (
    id INTEGER PRIMARY KEY,
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    linkage_key TEXT NOT NULL,
    item_sealed BLOB NOT NULL,
    status TEXT NOT NULL,
    urgent INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    received_rank INTEGER NOT NULL,
    rag TEXT NOT NULL,
    agency TEXT NOT NULL,
    notice_type TEXT NOT NULL,
    age_band TEXT NOT NULL,
    UNIQUE (subscriber_id, notice_id)
);
CREATE INDEX IF NOT EXISTS feed_entries_queue ON feed_entries
    (subscriber_id, status, urgent, due_ms, priority, received_rank, notice_id);
CREATE INDEX IF NOT EXISTS feed_entries_all ON feed_entries
    (subscriber_id, urgent, due_ms, priority, received_rank, notice_id);
CREATE INDEX IF NOT EXISTS feed_entries_child ON feed_entries (subscriber_id, linkage_key);
CREATE TABLE IF NOT EXISTS feed_covers (
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    decision_notice_id TEXT NOT NULL,
    decision_received_ms INTEGER NOT NULL,
    PRIMARY KEY (subscriber_id, notice_id, decision_notice_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_covers_by_decision ON feed_covers
    (subscriber_id, decision_notice_id);
CREATE TABLE IF NOT EXISTS feed_counts (
    subscriber_id TEXT NOT NULL,
    status TEXT NOT NULL,
    agency TEXT NOT NULL,
    notice_type TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (subscriber_id, status, agency, notice_type)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feed_withdrawals (
    subscriber_id TEXT NOT NULL,
    notice_id TEXT NOT NULL,
    retraction_id TEXT NOT NULL,
    linkage_key TEXT NOT NULL,
    source_agency TEXT NOT NULL,
    reason TEXT NOT NULL,
    replaced_by_notice_id TEXT,
    retracted_at TEXT NOT NULL,
    delivered_at TEXT NOT NULL,
    acknowledged_by TEXT,
    acknowledged_by_name TEXT,
    acknowledged_role TEXT,
    acknowledged_at TEXT,
    PRIMARY KEY (subscriber_id, notice_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_withdrawals_child ON feed_withdrawals
    (subscriber_id, linkage_key);
CREATE TABLE IF NOT EXISTS child_keys (
    subscriber_id TEXT NOT NULL,
    child_ref TEXT NOT NULL,
    wrapped_key BLOB NOT NULL,
    PRIMARY KEY (subscriber_id, child_ref)
) WITHOUT ROWID;
"""

# Every column ascending (received_rank is minus the received time: newest first), so a
# position in the queue is one row value and keyset paging is one index range.
_KEY = "(urgent, due_ms, priority, received_rank, notice_id)"
_KEY_COLUMNS = "urgent, due_ms, priority, received_rank, notice_id"
_ORDER = "ORDER BY urgent, due_ms, priority, received_rank, notice_id"
_REVERSED = "ORDER BY urgent DESC, due_ms DESC, priority DESC, received_rank DESC, notice_id DESC"
_CACHE_SIZE = 4096
_KEY_CACHE_SIZE = 65536  # unwrapped child data keys held in memory (32 bytes each)
_ITEM = "notice_id, linkage_key, item_sealed"
_CountKey = tuple[str, str, str]
"""(status, agency, notice type)."""


def item_json(entry: FeedEntry) -> str:
    """The entry as the FeedItem fields `entry_from_feed_item` reads back (what is stored)."""
    return json.dumps(
        {
            "notice_id": entry.notice_id,
            "decision_id": entry.decision_id,
            "subscriber_id": entry.subscriber_id,
            "notice_type": entry.notice_type,
            "subject_linkage_key": entry.linkage_key,
            "outcome": entry.outcome,
            "view_json": entry.view_json,
            "fields_withheld": list(entry.fields_withheld),
            "explanation": entry.explanation,
            "lawful_basis": dataclasses.asdict(entry.lawful_basis),
            "purpose": entry.purpose,
            "isa_clause": entry.isa_clause,
            "rule_ids": list(entry.rule_ids),
            "policy_revision": entry.policy_revision,
            "source_agency": entry.source_agency,
            "contact_point": dataclasses.asdict(entry.contact_point),
            "decided_at": entry.received_at.isoformat(),
            "provenance": None if entry.provenance is None else provenance_record(entry.provenance),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _entry(text: bytes) -> FeedEntry:
    return entry_from_feed_item(json.loads(text))


def _item_aad(subscriber_id: str, notice_id: str) -> bytes:
    return f"feed-entry:{subscriber_id}:{notice_id}".encode()


class _Delta:
    """What one transaction changes in what is held in memory, applied once it commits."""

    def __init__(self) -> None:
        self.counts: Counter[_CountKey] = Counter()
        self.urgent: dict[str, FeedEntry | None] = {}

    def placed(self, entry: FeedEntry, place: QueuePlace) -> None:
        self.counts[(place.status, place.agency, place.notice_type)] += 1
        self.urgent[entry.notice_id] = entry if place.urgent == 0 else None


class _Covering:
    """decisions_covering inside a write transaction (the store's lock is already held)."""

    def __init__(self, store: StoredProjection, db: sqlite3.Connection) -> None:
        self._store = store
        self._db = db

    def decisions_covering(self, notice_id: str) -> list[FeedEntry]:
        return self._store._covering(self._db, notice_id)


class StoredProjection:
    """One subscriber's projection in `database` (see the module note)."""

    def __init__(
        self,
        database: PrivateSqlite,
        subscriber_id: str,
        *,
        topic: str,
        timescales: Timescales,
        keys: ChildKeys,
    ) -> None:
        self.subscriber_id = subscriber_id
        self._database = database
        self._keys = keys
        self._data_keys: dict[str, bytes] = {}  # linkage key -> the child's data key
        self._topic = topic
        self._timescales = timescales
        self._cache: dict[str, FeedEntry] = {}
        with database.reading() as db:
            # A withdrawn notice's content, an erased child's key and a table dropped by an
            # upgrade must not survive in free pages (issue 18).
            db.execute("PRAGMA secure_delete = ON")
        dropped = _upgrade(database)
        database.ensure_schema(SCHEMA)
        rules = rules_fingerprint(timescales)
        with database.transaction() as db:
            row = db.execute(
                "SELECT topic, rules FROM feed_projections WHERE subscriber_id = ?",
                (subscriber_id,),
            ).fetchone()
            if row is None or (row["topic"], row["rules"]) != (topic, rules):
                if row is not None:
                    log.info(
                        "stored feed projection dropped: kept under other timescales; "
                        "rebuilding from the feed",
                        extra={"feed": topic},
                    )
                self._drop(db, row["topic"] if row is not None else topic)
                dropped = dropped or row is not None
                db.execute(
                    "INSERT OR REPLACE INTO feed_projections (subscriber_id, topic, rules) "
                    "VALUES (?, ?, ?)",
                    (subscriber_id, topic, rules),
                )
            # Items in immediate danger still to act on, parsed once: every page shows them
            # as alerts. (Few in a working MASH; a test stack that never decides keeps many.)
            self._urgent: dict[str, FeedEntry] = {
                entry.notice_id: entry
                for entry in (
                    self._open(db, r)
                    for r in db.execute(
                        f"SELECT {_ITEM} FROM feed_entries WHERE subscriber_id = ? AND urgent = 0",
                        (subscriber_id,),
                    ).fetchall()
                )
            }
            self._counts: Counter[_CountKey] = Counter(
                {
                    (r["status"], r["agency"], r["notice_type"]): r["n"]
                    for r in db.execute(
                        "SELECT status, agency, notice_type, n FROM feed_counts "
                        "WHERE subscriber_id = ? AND n > 0",
                        (subscriber_id,),
                    )
                }
            )
        if dropped:  # what was dropped (items kept in clear, perhaps) leaves the log too
            self._scrub_log()

    def forget_feed(self) -> None:
        with self._database.transaction() as db:
            self._drop(db, self._topic)
        self._scrub_log()
        self._cache.clear()
        self._urgent.clear()
        self._counts.clear()

    def _drop(self, db: sqlite3.Connection, topic: str) -> None:
        for table in ("feed_entries", "feed_covers", "feed_counts", "child_keys"):
            db.execute(f"DELETE FROM {table} WHERE subscriber_id = ?", (self.subscriber_id,))
        self._data_keys.clear()
        db.execute("DELETE FROM feed_offsets WHERE topic IN (?, ?)", (topic, self._topic))

    # -- sealing -----------------------------------------------------------------------------

    def _data_key(self, db: sqlite3.Connection, linkage_key: str, *, create: bool) -> bytes | None:
        """The child's data key (made and stored wrapped on first use when `create`)."""
        key = self._data_keys.get(linkage_key)
        if key is not None:
            return key
        child_ref = self._keys.child_ref("linkage", linkage_key)
        holder = f"{self.subscriber_id}:{child_ref}"
        row = db.execute(
            "SELECT wrapped_key FROM child_keys WHERE subscriber_id = ? AND child_ref = ?",
            (self.subscriber_id, child_ref),
        ).fetchone()
        if row is not None:
            key = self._keys.unwrap(holder, bytes(row["wrapped_key"]))
        elif create:
            key, wrapped = self._keys.new_data_key(holder)
            db.execute(
                "INSERT INTO child_keys (subscriber_id, child_ref, wrapped_key) VALUES (?, ?, ?)",
                (self.subscriber_id, child_ref, wrapped),
            )
        else:
            return None
        if len(self._data_keys) >= _KEY_CACHE_SIZE:
            del self._data_keys[next(iter(self._data_keys))]  # the oldest first
        self._data_keys[linkage_key] = key
        return key

    def _seal(self, db: sqlite3.Connection, entry: FeedEntry) -> bytes:
        key = self._data_key(db, entry.linkage_key, create=True)
        assert key is not None
        plaintext = item_json(entry).encode()
        return seal(key, plaintext, aad=_item_aad(self.subscriber_id, entry.notice_id))

    def _open(self, db: sqlite3.Connection, row: sqlite3.Row) -> FeedEntry:
        """The entry sealed in `row` (its notice_id, linkage_key and item_sealed)."""
        key = self._data_key(db, row["linkage_key"], create=False)
        if key is None:  # erasure deletes a child's rows with its key, in one transaction
            raise SealedValueUnreadable("a stored feed item has no child key (store damaged)")
        aad = _item_aad(self.subscriber_id, row["notice_id"])
        return _entry(open_sealed(key, bytes(row["item_sealed"]), aad=aad))

    # -- writing ---------------------------------------------------------------------------

    def start_offsets(self, topic: str) -> Mapping[int, int]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT partition, next_offset FROM feed_offsets WHERE topic = ?", (topic,)
            ).fetchall()
        return {int(r["partition"]): int(r["next_offset"]) for r in rows}

    def apply(self, entry: FeedMessage) -> Change:
        """One entry on its own (no offset recorded): for tests and tools."""
        return self.apply_all([entry], topic="", partition=-1, next_offset=0)[0]

    def apply_all(
        self, entries: Sequence[FeedMessage], *, topic: str, partition: int, next_offset: int
    ) -> list[Change]:
        delta = _Delta()
        try:
            changes = self._apply_batch(entries, delta, topic, partition, next_offset)
        except BaseException:
            # A child key made in the rolled-back transaction was never stored: sealing more
            # under it would leave items no restart can open.
            self._data_keys.clear()
            raise
        self._committed(delta)
        if any(c.applied is Applied.WITHDRAWN for c in changes):
            self._scrub_log()
        return changes

    def _apply_batch(
        self,
        entries: Sequence[FeedMessage],
        delta: _Delta,
        topic: str,
        partition: int,
        next_offset: int,
    ) -> list[Change]:
        with self._database.transaction() as db:
            changes = [self._apply(db, entry, delta) for entry in entries]
            self._write_counts(db, delta.counts)
            if topic:
                db.execute(
                    "INSERT INTO feed_offsets (topic, partition, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET "
                    "next_offset = excluded.next_offset",
                    (topic, partition, next_offset),
                )
        return changes

    def _committed(self, delta: _Delta) -> None:
        # Only once committed: what is held in memory follows what is on disk.
        self._counts.update(delta.counts)  # update() adds; negative deltas subtract
        for notice_id, urgent in delta.urgent.items():
            if urgent is None:
                self._urgent.pop(notice_id, None)
            else:
                self._urgent[notice_id] = urgent

    def _write_counts(self, db: sqlite3.Connection, delta: Counter[_CountKey]) -> None:
        for (status, agency, notice_type), n in delta.items():
            if n:
                db.execute(
                    "INSERT INTO feed_counts (subscriber_id, status, agency, notice_type, n) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subscriber_id, status, agency, "
                    "notice_type) DO UPDATE SET n = n + excluded.n",
                    (self.subscriber_id, status, agency, notice_type, n),
                )

    def _apply(self, db: sqlite3.Connection, entry: FeedMessage, delta: _Delta) -> Change:
        if entry.subscriber_id != self.subscriber_id:
            return Change(Applied.REFUSED, entry.notice_id, entry.linkage_key)
        if isinstance(entry, Withdrawal):
            return self._withdraw(db, entry, delta)
        if self._withdrawn_row(db, entry.notice_id) is not None:
            # Withdrawn for good: the item is never stored again.
            return Change(Applied.UNCHANGED, entry.notice_id, entry.linkage_key)
        row = db.execute(
            f"SELECT {_ITEM}, status, agency, notice_type FROM feed_entries "
            "WHERE subscriber_id = ? AND notice_id = ?",
            (self.subscriber_id, entry.notice_id),
        ).fetchone()
        previous = self._open(db, row) if row is not None else None
        if (
            previous is not None
            and previous.view_json == entry.view_json
            and (previous.decision_id, previous.policy_revision, previous.fields_withheld)
            == (entry.decision_id, entry.policy_revision, entry.fields_withheld)
        ):
            return Change(Applied.UNCHANGED, entry.notice_id, entry.linkage_key)
        self._cache.pop(entry.notice_id, None)
        regrade: set[str] = set()
        if row is not None:
            delta.counts[(row["status"], row["agency"], row["notice_type"])] -= 1
            if previous is not None and previous.mash_decision is not None:
                regrade.update(previous.mash_decision.related_notice_ids)
                db.execute(
                    "DELETE FROM feed_covers WHERE subscriber_id = ? AND decision_notice_id = ?",
                    (self.subscriber_id, entry.notice_id),
                )
        place = self._place(db, entry)
        db.execute(
            "INSERT INTO feed_entries (subscriber_id, notice_id, linkage_key, item_sealed, "
            "status, urgent, due_ms, priority, received_rank, rag, agency, notice_type, "
            "age_band) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (subscriber_id, notice_id) DO UPDATE SET "
            "linkage_key = excluded.linkage_key, item_sealed = excluded.item_sealed, "
            "status = excluded.status, urgent = excluded.urgent, due_ms = excluded.due_ms, "
            "priority = excluded.priority, received_rank = excluded.received_rank, "
            "rag = excluded.rag, agency = excluded.agency, notice_type = excluded.notice_type, "
            "age_band = excluded.age_band",
            (
                self.subscriber_id,
                entry.notice_id,
                entry.linkage_key,
                self._seal(db, entry),
                *_place_values(place),
            ),
        )
        delta.placed(entry, place)
        affected: tuple[str, ...] = ()
        decision = entry.mash_decision
        if decision is not None:
            received_ms = epoch_ms(entry.received_at)
            db.executemany(
                "INSERT OR REPLACE INTO feed_covers (subscriber_id, notice_id, "
                "decision_notice_id, decision_received_ms) VALUES (?, ?, ?, ?)",
                [
                    (self.subscriber_id, related, entry.notice_id, received_ms)
                    for related in decision.related_notice_ids
                ],
            )
            regrade.update(decision.related_notice_ids)
            present = self._present(db, decision.related_notice_ids)
            affected = tuple(i for i in decision.related_notice_ids if i in present)
        for notice_id in regrade - {entry.notice_id}:
            self._regrade(db, notice_id, delta)
        return Change(
            Applied.NEW if previous is None else Applied.UPDATED,
            entry.notice_id,
            entry.linkage_key,
            affected,
        )

    def _withdraw(self, db: sqlite3.Connection, withdrawal: Withdrawal, delta: _Delta) -> Change:
        """Delete the item (content, covers, count, queue place) and keep its tombstone."""
        inserted = db.execute(
            "INSERT OR IGNORE INTO feed_withdrawals (subscriber_id, notice_id, retraction_id, "
            "linkage_key, source_agency, reason, replaced_by_notice_id, retracted_at, "
            "delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.subscriber_id,
                withdrawal.notice_id,
                withdrawal.retraction_id,
                withdrawal.linkage_key,
                withdrawal.source_agency,
                withdrawal.reason,
                withdrawal.replaced_by_notice_id,
                withdrawal.retracted_at.isoformat(),
                withdrawal.delivered_at.isoformat(),
            ),
        ).rowcount
        if not inserted:
            return Change(Applied.UNCHANGED, withdrawal.notice_id, withdrawal.linkage_key)
        self._cache.pop(withdrawal.notice_id, None)
        row = db.execute(
            f"SELECT {_ITEM}, status, agency, notice_type FROM feed_entries "
            "WHERE subscriber_id = ? AND notice_id = ?",
            (self.subscriber_id, withdrawal.notice_id),
        ).fetchone()
        affected: tuple[str, ...] = ()
        if row is not None:
            previous = self._open(db, row)
            delta.counts[(row["status"], row["agency"], row["notice_type"])] -= 1
            delta.urgent[withdrawal.notice_id] = None
            db.execute(
                "DELETE FROM feed_entries WHERE subscriber_id = ? AND notice_id = ?",
                (self.subscriber_id, withdrawal.notice_id),
            )
            db.execute(
                "DELETE FROM feed_covers WHERE subscriber_id = ? AND decision_notice_id = ?",
                (self.subscriber_id, withdrawal.notice_id),
            )
            decision = previous.mash_decision
            if decision is not None:  # the notices it covered are undecided again
                present = self._present(db, decision.related_notice_ids)
                affected = tuple(i for i in decision.related_notice_ids if i in present)
                for notice_id in set(affected):
                    self._regrade(db, notice_id, delta)
        db.execute(
            "DELETE FROM feed_covers WHERE subscriber_id = ? AND notice_id = ?",
            (self.subscriber_id, withdrawal.notice_id),
        )
        return Change(Applied.WITHDRAWN, withdrawal.notice_id, withdrawal.linkage_key, affected)

    def _withdrawn_row(self, db: sqlite3.Connection, notice_id: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = db.execute(
            "SELECT * FROM feed_withdrawals WHERE subscriber_id = ? AND notice_id = ?",
            (self.subscriber_id, notice_id),
        ).fetchone()
        return row

    def withdrawal(self, notice_id: str) -> Withdrawal | None:
        with self._database.reading() as db:
            row = self._withdrawn_row(db, notice_id)
        return None if row is None else _withdrawal(row)

    def withdrawals_for_keys(self, linkage_keys: Iterable[str]) -> list[Withdrawal]:
        keys = sorted(set(linkage_keys))
        if not keys:
            return []
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT * FROM feed_withdrawals WHERE subscriber_id = ? "
                f"AND linkage_key IN ({', '.join('?' * len(keys))})",
                (self.subscriber_id, *keys),
            ).fetchall()
        found = [_withdrawal(r) for r in rows]
        return sorted(found, key=lambda w: (w.retracted_at, w.notice_id))

    def withdrawals_to_acknowledge(self) -> list[Withdrawal]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT * FROM feed_withdrawals WHERE subscriber_id = ? "
                "AND acknowledged_at IS NULL",
                (self.subscriber_id,),
            ).fetchall()
        found = [_withdrawal(r) for r in rows]
        return sorted(found, key=lambda w: (w.delivered_at, w.notice_id))

    def acknowledge_withdrawal(
        self, notice_id: str, acknowledgement: Acknowledgement
    ) -> Withdrawal | None:
        with self._database.transaction(durable=True) as db:
            db.execute(
                "UPDATE feed_withdrawals SET acknowledged_by = ?, acknowledged_by_name = ?, "
                "acknowledged_role = ?, acknowledged_at = ? WHERE subscriber_id = ? "
                "AND notice_id = ? AND acknowledged_at IS NULL",
                (
                    acknowledgement.subject,
                    acknowledgement.name,
                    acknowledgement.role,
                    acknowledgement.at.isoformat(),
                    self.subscriber_id,
                    notice_id,
                ),
            )
            row = self._withdrawn_row(db, notice_id)
        return None if row is None else _withdrawal(row)

    def holds_child(self, linkage_key: str) -> bool:
        """Whether this projection still keeps the child's wrapped data key or an item
        naming the child (the erasure job's readable check: false once erased)."""
        child_ref = self._keys.child_ref("linkage", linkage_key)
        with self._database.reading() as db:
            row = db.execute(
                "SELECT 1 FROM child_keys WHERE subscriber_id = ? AND child_ref = ? "
                "UNION ALL SELECT 1 FROM feed_entries WHERE subscriber_id = ? AND linkage_key = ? "
                "UNION ALL SELECT 1 FROM feed_withdrawals WHERE subscriber_id = ? "
                "AND linkage_key = ? LIMIT 1",
                (self.subscriber_id, child_ref, *(self.subscriber_id, linkage_key) * 2),
            ).fetchone()
        return row is not None

    def erase_child(self, linkage_key: str) -> int:
        """Erase everything this projection holds about one child (issue 18's erasure); the
        number of items that went.

        The child's data key goes first, in the same transaction as its items, their queue
        places, covers and counts; the child's withdrawal tombstones keep their notice ids
        (a withdrawn notice stays withdrawn) but lose the linkage key. Freed pages are zeroed
        (secure_delete) and the write-ahead log is checkpointed and truncated, so neither the
        wrapped key nor the clear linkage key is left in the file. Items a decision about the
        child covered for another child are placed again. A feed read again from its start
        would bring back what it still holds: the feed's own retention is what ends that."""
        child_ref = self._keys.child_ref("linkage", linkage_key)
        delta = _Delta()
        with self._database.transaction(durable=True) as db:
            db.execute(
                "DELETE FROM child_keys WHERE subscriber_id = ? AND child_ref = ?",
                (self.subscriber_id, child_ref),
            )
            rows = db.execute(
                "SELECT notice_id, status, agency, notice_type FROM feed_entries "
                "WHERE subscriber_id = ? AND linkage_key = ?",
                (self.subscriber_id, linkage_key),
            ).fetchall()
            erased = {str(r["notice_id"]) for r in rows}
            regrade: set[str] = set()
            for row in rows:
                delta.counts[(row["status"], row["agency"], row["notice_type"])] -= 1
                delta.urgent[row["notice_id"]] = None
                regrade.update(
                    str(r["notice_id"])
                    for r in db.execute(
                        "SELECT notice_id FROM feed_covers WHERE subscriber_id = ? "
                        "AND decision_notice_id = ?",
                        (self.subscriber_id, row["notice_id"]),
                    )
                )
                for column in ("notice_id", "decision_notice_id"):
                    db.execute(
                        f"DELETE FROM feed_covers WHERE subscriber_id = ? AND {column} = ?",
                        (self.subscriber_id, row["notice_id"]),
                    )
            db.execute(
                "DELETE FROM feed_entries WHERE subscriber_id = ? AND linkage_key = ?",
                (self.subscriber_id, linkage_key),
            )
            db.execute(
                "UPDATE feed_withdrawals SET linkage_key = '' "
                "WHERE subscriber_id = ? AND linkage_key = ?",
                (self.subscriber_id, linkage_key),
            )
            for notice_id in sorted(regrade - erased):
                self._regrade(db, notice_id, delta)
            self._write_counts(db, delta.counts)
        self._data_keys.pop(linkage_key, None)
        for notice_id in erased:
            self._cache.pop(notice_id, None)
        self._committed(delta)
        self._scrub_log()
        return len(erased)

    def _scrub_log(self) -> None:
        """Copy the write-ahead log into the database and truncate it to nothing, so old page
        images (a deleted key, a withdrawn item) are not left in its frames."""
        with self._database.reading() as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _place(self, db: sqlite3.Connection, entry: FeedEntry) -> QueuePlace:
        triage = triage_of(entry, _Covering(self, db), self._timescales)
        return queue_place(entry, triage, self._timescales)

    def _regrade(self, db: sqlite3.Connection, notice_id: str, delta: _Delta) -> None:
        """Work out again the place of an item whose covering decisions changed."""
        row = db.execute(
            f"SELECT {_ITEM}, status, agency, notice_type FROM feed_entries "
            "WHERE subscriber_id = ? AND notice_id = ?",
            (self.subscriber_id, notice_id),
        ).fetchone()
        if row is None:  # a decision may name a notice this feed never had
            return
        entry = self._open(db, row)
        place = self._place(db, entry)
        delta.counts[(row["status"], row["agency"], row["notice_type"])] -= 1
        delta.placed(entry, place)
        db.execute(
            "UPDATE feed_entries SET status = ?, urgent = ?, due_ms = ?, priority = ?, "
            "received_rank = ?, rag = ?, agency = ?, notice_type = ?, age_band = ? "
            "WHERE subscriber_id = ? AND notice_id = ?",
            (*_place_values(place), self.subscriber_id, notice_id),
        )

    def _present(self, db: sqlite3.Connection, notice_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for notice_id in notice_ids:
            if db.execute(
                "SELECT 1 FROM feed_entries WHERE subscriber_id = ? AND notice_id = ?",
                (self.subscriber_id, notice_id),
            ).fetchone():
                found.add(notice_id)
        return found

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(self._counts.values())

    def __iter__(self) -> Iterator[FeedEntry]:
        """Every item, a chunk at a time (the lock is not held between chunks)."""
        last = 0
        while True:
            with self._database.reading() as db:
                rows = db.execute(
                    f"SELECT id, {_ITEM} FROM feed_entries WHERE subscriber_id = ? AND id > ? "
                    "ORDER BY id LIMIT 1000",
                    (self.subscriber_id, last),
                ).fetchall()
                entries = [self._open(db, row) for row in rows]
            if not rows:
                return
            last = rows[-1]["id"]
            yield from entries

    def get(self, notice_id: str) -> FeedEntry | None:
        cached = self._cache.get(notice_id)
        if cached is not None:
            return cached
        with self._database.reading() as db:
            row = db.execute(
                f"SELECT {_ITEM} FROM feed_entries WHERE subscriber_id = ? AND notice_id = ?",
                (self.subscriber_id, notice_id),
            ).fetchone()
            if row is None:
                return None
            found = self._open(db, row)
        return self._remember(found)

    def _remember(self, entry: FeedEntry) -> FeedEntry:
        if len(self._cache) >= _CACHE_SIZE:
            del self._cache[next(iter(self._cache))]  # the oldest first
        self._cache[entry.notice_id] = entry
        return entry

    def linkage_keys(self) -> Iterator[str]:
        with self._database.reading() as db:
            rows = db.execute(
                "SELECT DISTINCT linkage_key FROM feed_entries WHERE subscriber_id = ?",
                (self.subscriber_id,),
            ).fetchall()
        return (str(r["linkage_key"]) for r in rows)

    def for_child(self, linkage_key: str) -> list[FeedEntry]:
        return self.for_keys((linkage_key,))

    def for_keys(self, linkage_keys: Iterable[str]) -> list[FeedEntry]:
        keys = sorted(set(linkage_keys))
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        with self._database.reading() as db:
            rows = db.execute(
                f"SELECT {_ITEM} FROM feed_entries WHERE subscriber_id = ? "
                f"AND linkage_key IN ({marks})",
                (self.subscriber_id, *keys),
            ).fetchall()
            entries = [self._open(db, r) for r in rows]
        return sorted(entries, key=lambda e: (e.occurred_at, e.received_at, e.notice_id))

    def decisions_covering(self, notice_id: str) -> list[FeedEntry]:
        if notice_id in self._urgent:  # still to act on, so no decision covers it
            return []
        with self._database.reading() as db:
            return self._covering(db, notice_id)

    def _covering(self, db: sqlite3.Connection, notice_id: str) -> list[FeedEntry]:
        rows = db.execute(
            "SELECT e.notice_id, e.linkage_key, e.item_sealed FROM feed_covers c "
            "JOIN feed_entries e ON e.subscriber_id = c.subscriber_id "
            "AND e.notice_id = c.decision_notice_id "
            "WHERE c.subscriber_id = ? AND c.notice_id = ? "
            "ORDER BY c.decision_received_ms DESC, c.decision_notice_id DESC",
            (self.subscriber_id, notice_id),
        ).fetchall()
        return [self._open(db, r) for r in rows]

    def queue_slice(
        self,
        *,
        now: dt.datetime,
        statuses: frozenset[str] | None,
        rag: str | None,
        agency: str | None,
        notice_type: str | None,
        age_band: str | None,
        offset: int,
        limit: int | None,
        after: QueueCursor | None = None,
        before: QueueCursor | None = None,
    ) -> QueueSlice:
        where = ["subscriber_id = ?"]
        params: list[object] = [self.subscriber_id]
        if statuses is not None:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(sorted(statuses))
        filters = {"rag": rag, "agency": agency, "notice_type": notice_type, "age_band": age_band}
        for column, value in filters.items():
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = " AND ".join(where)
        listed = Counter(
            {k: n for k, n in self._counts.items() if statuses is None or k[0] in statuses}
        )
        with self._database.reading() as db:
            # Two steps: the page's notice ids first, read from the queue index alone (it
            # holds every ordering column and the id, so skipping `offset` rows touches no
            # item), then only those items. Selecting the items in the same query made a deep
            # page read every item it skipped.
            # A cursor: the page right after (or before) a position, one index range away;
            # otherwise by offset, which counts past every row before the page.
            cursor = after or before
            keyset = f" AND {_KEY} {'>' if after else '<'} (?, ?, ?, ?, ?)" if cursor else ""
            backwards = before is not None and after is None
            page_rows = db.execute(
                f"SELECT {_KEY_COLUMNS} FROM feed_entries WHERE {clause}{keyset} "
                f"{_REVERSED if backwards else _ORDER} LIMIT ? OFFSET ?",
                (
                    *params,
                    *(cursor.key() if cursor else ()),
                    -1 if limit is None else limit,
                    0 if cursor else offset,
                ),
            ).fetchall()
            if backwards:
                page_rows.reverse()
            page_ids = [r["notice_id"] for r in page_rows]
            cached = {i: e for i in page_ids if (e := self._cache.get(i)) is not None}
            wanted = [i for i in page_ids if i not in cached]
            items: dict[str, FeedEntry] = {}
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                items.update(
                    (r["notice_id"], self._open(db, r))
                    for r in db.execute(
                        f"SELECT {_ITEM} FROM feed_entries WHERE subscriber_id = ? "
                        f"AND notice_id IN ({', '.join('?' * len(chunk))})",
                        (self.subscriber_id, *chunk),
                    ).fetchall()
                )
            if any(v is not None for v in filters.values()):
                total = int(
                    db.execute(
                        f"SELECT COUNT(*) FROM feed_entries WHERE {clause}", params
                    ).fetchone()[0]
                )
            else:
                total = sum(listed.values())
            overdue = int(
                db.execute(
                    # Immediate danger is overdue from arrival (its place has no deadline).
                    "SELECT (SELECT COUNT(*) FROM feed_entries WHERE subscriber_id = ?1 "
                    "AND status = ?2 AND urgent = 0) + (SELECT COUNT(*) FROM feed_entries "
                    "WHERE subscriber_id = ?1 AND status = ?2 AND urgent = 1 AND due_ms <= ?3)",
                    (self.subscriber_id, Status.AWAITING.value, epoch_ms(now)),
                ).fetchone()[0]
            )
        entries = tuple(
            cached.get(notice_id) or self._remember(items[notice_id]) for notice_id in page_ids
        )
        positions = [QueueCursor(*tuple(r)) for r in page_rows]
        return QueueSlice(
            entries=entries,
            first=positions[0] if positions else None,
            last=positions[-1] if positions else None,
            total=total,
            awaiting=self._count_status(Status.AWAITING),
            overdue=overdue,
            held=self._count_status(Status.HELD_ELSEWHERE),
            agencies=frozenset(k[1] for k, n in listed.items() if n > 0),
            notice_types=frozenset(k[2] for k, n in listed.items() if n > 0),
        )

    def in_danger(self) -> list[FeedEntry]:
        return list(self._urgent.values())

    def _count_status(self, status: Status) -> int:
        return sum(n for k, n in self._counts.items() if k[0] == status.value)


def _upgrade(database: PrivateSqlite) -> bool:
    """A database from before keyset paging (PLACE_VERSION 2) kept `received_ms` where the
    queue now keeps `received_rank`, and one from before sealing (PLACE_VERSION 4) kept each
    item in clear (`item_json`): its item table goes, and every projection is rebuilt from its
    feed (the version in the rules fingerprint changed too). True when it dropped the table."""
    with database.transaction() as db:
        columns = {r["name"] for r in db.execute("PRAGMA table_info(feed_entries)")}
        if columns and not {"received_rank", "item_sealed"} <= columns:
            log.info("stored feed projections kept in an older layout: rebuilding from the feeds")
            db.execute("DROP TABLE feed_entries")
            return True
    return False


def _withdrawal(row: sqlite3.Row) -> Withdrawal:
    acknowledged = None
    if row["acknowledged_at"] is not None:
        acknowledged = Acknowledgement(
            subject=row["acknowledged_by"],
            name=row["acknowledged_by_name"],
            role=row["acknowledged_role"],
            at=dt.datetime.fromisoformat(row["acknowledged_at"]),
        )
    return Withdrawal(
        retraction_id=row["retraction_id"],
        notice_id=row["notice_id"],
        subscriber_id=row["subscriber_id"],
        linkage_key=row["linkage_key"],
        source_agency=row["source_agency"],
        reason=row["reason"],
        replaced_by_notice_id=row["replaced_by_notice_id"],
        retracted_at=dt.datetime.fromisoformat(row["retracted_at"]),
        delivered_at=dt.datetime.fromisoformat(row["delivered_at"]),
        acknowledged=acknowledged,
    )


def _place_values(place: QueuePlace) -> tuple[object, ...]:
    return (
        place.status,
        place.urgent,
        place.due_ms,
        place.priority,
        -place.received_ms,
        place.rag,
        place.agency,
        place.notice_type,
        place.age_band,
    )
