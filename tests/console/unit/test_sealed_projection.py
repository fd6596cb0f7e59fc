"""The stored projection keeps each item sealed under its child's data key (issue 18): what a
view says about a child is never in the database file or its write-ahead log in clear, and
once the child is erased nothing about them is left there at all."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry
from services.console.domain.projection import Applied
from services.console.domain.withdrawals import Withdrawal
from services.console.projection_store import StoredProjection
from services.hubkit.child_keys import ChildKeys, open_sealed
from services.hubkit.errors import SealedValueUnreadable
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.factories import NOW, decision, entry

SUBSCRIBER = "mash-manager"
TOPIC = "feed.mash-manager.v1"
KEYS = ChildKeys(b"a console store key, 32 bytes...", store="console")
ERASED = "e1" * 32  # the linkage key of the child who is erased
KEPT = "f2" * 32
# Distinctive synthetic text, so a match in the file's bytes can only be this child's view.
NAME = "Quillonbe"
SUMMARY = "Marker-7f3c: seen at the allotment after midnight"


def _store(path: Path) -> StoredProjection:
    return StoredProjection(
        PrivateSqlite(path), SUBSCRIBER, topic=TOPIC, timescales=Timescales(), keys=KEYS
    )


def _file_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as a copy or a backup would take them."""
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def _items(linkage_key: str, name: str, summary: str) -> list[FeedEntry]:
    contacts = [
        entry(linkage_key=linkage_key, given_name=name, summary=summary),
        entry(linkage_key=linkage_key, given_name=name, summary=summary, immediate_danger=True),
        entry(linkage_key=linkage_key, given_name=name, summary=summary, source_agency="HEALTH"),
    ]
    return [*contacts, decision(contacts[0], contacts[2])]


def test_what_a_view_says_is_never_in_the_file_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(path)
    items = _items(ERASED, NAME, SUMMARY)
    store.apply_all(items, topic=TOPIC, partition=0, next_offset=4)
    assert store.get(items[0].notice_id) == items[0]  # sealed, and opened again whole
    # While the console runs (the log not yet checkpointed) and after it stops.
    for raw in (_file_bytes(path), _file_bytes(path)):
        assert raw  # the test reads something
        for secret in (NAME, SUMMARY, "Synthetic rationale for the decision."):
            assert secret.encode() not in raw
    reopened = _store(path)
    assert [e.notice_id for e in reopened.in_danger()] == [items[1].notice_id]
    assert reopened.for_child(ERASED) == sorted(
        items, key=lambda e: (e.occurred_at, e.received_at, e.notice_id)
    )


def test_a_sealed_item_copied_to_another_row_does_not_open(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(path)
    first, second = entry(linkage_key=ERASED), entry(linkage_key=ERASED)
    store.apply_all([first, second], topic=TOPIC, partition=0, next_offset=2)
    with sqlite3.connect(path) as db:
        db.execute(
            "UPDATE feed_entries SET item_sealed = (SELECT item_sealed FROM feed_entries "
            "WHERE notice_id = ?) WHERE notice_id = ?",
            (first.notice_id, second.notice_id),
        )
    reopened = _store(path)
    assert reopened.get(first.notice_id) == first
    with pytest.raises(SealedValueUnreadable):
        reopened.get(second.notice_id)


def test_an_erased_child_leaves_nothing_readable_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(path)
    erased = _items(ERASED, NAME, SUMMARY)
    kept = _items(KEPT, "Ottoline", "Synthetic summary of the other child.")
    withdrawn = entry(linkage_key=ERASED, given_name=NAME)
    # A decision about the kept child that also names one of the erased child's notices.
    across = decision(kept[0], erased[2])
    store.apply_all([*erased, *kept, withdrawn, across], topic=TOPIC, partition=0, next_offset=10)
    store.apply(
        Withdrawal(
            retraction_id="r-1",
            notice_id=withdrawn.notice_id,
            subscriber_id=SUBSCRIBER,
            linkage_key=ERASED,
            source_agency="POLICE",
            reason="WRONG_CHILD",
            replaced_by_notice_id=None,
            retracted_at=NOW,
            delivered_at=NOW,
        )
    )
    with sqlite3.connect(path) as db:
        sealed_rows = db.execute(
            "SELECT notice_id, item_sealed FROM feed_entries WHERE linkage_key = ?", (ERASED,)
        ).fetchall()
    assert len(sealed_rows) == len(erased)
    assert ERASED.encode() in _file_bytes(path)  # in clear before, for the queries

    assert store.erase_child(ERASED) == len(erased)

    assert store.for_child(ERASED) == []
    assert all(store.get(e.notice_id) is None for e in erased)
    assert store.in_danger() == [kept[1]]
    assert len(store) == len(kept) + 1
    assert store.for_child(KEPT)  # the other child is untouched
    raw = _file_bytes(path)
    assert KEPT.encode() in raw  # the check can see a linkage key when one is there
    assert ERASED.encode() not in raw
    assert KEYS.child_ref("linkage", ERASED).encode() not in raw
    # A copy of a sealed row taken before erasure: its key is gone, and a key made for the
    # same child later is another key.
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM child_keys").fetchone()[0] == 1  # KEPT's
    later, _ = KEYS.new_data_key(f"{SUBSCRIBER}:{KEYS.child_ref('linkage', ERASED)}")
    for notice_id, sealed in sealed_rows:
        with pytest.raises(SealedValueUnreadable):
            open_sealed(later, sealed, aad=f"feed-entry:{SUBSCRIBER}:{notice_id}".encode())
    # The withdrawn notice stays withdrawn, without saying whose it was.
    assert store.apply(withdrawn).applied is Applied.UNCHANGED
    tombstone = store.withdrawal(withdrawn.notice_id)
    assert tombstone is not None
    assert tombstone.linkage_key == ""
    # A restart sees the same store.
    reopened = _store(path)
    assert len(reopened) == len(store)
    assert reopened.in_danger() == [kept[1]]


def test_a_child_seen_again_after_erasure_gets_a_new_key(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(path)
    store.apply(entry(linkage_key=ERASED))
    with sqlite3.connect(path) as db:
        (before,) = db.execute("SELECT wrapped_key FROM child_keys").fetchone()
    store.erase_child(ERASED)
    again = entry(linkage_key=ERASED, received_at=NOW + dt.timedelta(days=2))
    assert store.apply(again).applied is Applied.NEW
    assert store.get(again.notice_id) == again
    with sqlite3.connect(path) as db:
        (after,) = db.execute("SELECT wrapped_key FROM child_keys").fetchone()
    assert KEYS.unwrap(f"{SUBSCRIBER}:{KEYS.child_ref('linkage', ERASED)}", after) != (
        KEYS.unwrap(f"{SUBSCRIBER}:{KEYS.child_ref('linkage', ERASED)}", before)
    )


def test_a_store_kept_in_clear_is_rebuilt_sealed(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(path)
    store.apply_all(
        [entry(linkage_key=ERASED, given_name=NAME)], topic=TOPIC, partition=0, next_offset=1
    )
    database = PrivateSqlite(path)
    with database.transaction() as db:  # as PLACE_VERSION 4 kept it: each item in clear
        db.execute("ALTER TABLE feed_entries RENAME COLUMN item_sealed TO item_json")
        db.execute("UPDATE feed_entries SET item_json = ?", (f'{{"name": "{NAME}"}}',))
        db.execute("UPDATE feed_projections SET rules = 'written under version 4'")
    database.close()
    reopened = _store(path)
    assert len(reopened) == 0
    assert reopened.start_offsets(TOPIC) == {}  # read again from the feed's start
    assert NAME.encode() not in _file_bytes(path)


def test_erasing_a_child_the_store_never_held_changes_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path / "console.sqlite")
    held = entry(linkage_key=KEPT)
    store.apply(held)
    assert store.erase_child(ERASED) == 0
    assert store.get(held.notice_id) == held
    assert dataclasses.replace(held) in store.for_child(KEPT)


def test_a_batch_that_fails_leaves_no_key_that_was_never_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(path)
    first, second = entry(linkage_key=ERASED), entry(linkage_key=ERASED)
    counted = StoredProjection._write_counts

    def failing(self: StoredProjection, db: sqlite3.Connection, delta: object) -> None:
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(StoredProjection, "_write_counts", failing)
    with pytest.raises(sqlite3.OperationalError):
        store.apply(first)  # the child's key was made, then rolled back with the batch
    monkeypatch.setattr(StoredProjection, "_write_counts", counted)
    store.apply(second)
    assert _store(path).get(second.notice_id) == second  # a restart opens it
