"""Signed-in sessions kept in the console's database: they survive a restart (a new store on
the same file), only a hash of the id is on disk, both limits still hold, sign-out and
eviction delete the row, and unfinished sign-ins never reach the disk."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

from services.console.domain.people import SessionPolicy, session_seconds_left
from services.console.sessions import SIGNED_IN_KEY, SessionStore
from services.hubkit.sqlite_store import PrivateSqlite

POLICY = SessionPolicy(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=10))
PERSON = {"subject": "u-1", "name": "Morgan", "roles": ["MASH_MANAGER"]}


def _store(database: PrivateSqlite, clock: list[float], **bounds: int) -> SessionStore:
    store = SessionStore(POLICY, clock=lambda: clock[0], **bounds)
    store.keep_in(database)
    return store


def _rows(path: Path) -> list[sqlite3.Row]:
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        return list(db.execute("SELECT * FROM console_sessions"))


def test_a_signed_in_session_survives_a_restart(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    first = PrivateSqlite(path)
    sid = _store(first, clock).create({SIGNED_IN_KEY: PERSON, "csrf": "token-1"})
    first.close()

    clock[0] += 60
    again = _store(PrivateSqlite(path), clock)  # a new process: nothing in memory
    record = again.load(sid, touch=True)
    assert record is not None
    assert record.data == {SIGNED_IN_KEY: PERSON, "csrf": "token-1"}
    assert record.created_at == 1_000.0  # the absolute limit counts from the first sign-in


def test_only_a_hash_of_the_session_id_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    sid = _store(PrivateSqlite(path), [1_000.0]).create({SIGNED_IN_KEY: PERSON})
    (row,) = _rows(path)
    assert row["id_sha256"] == hashlib.sha256(sid.encode()).hexdigest()
    assert sid not in path.read_bytes().decode("latin-1")
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        assert sid not in wal.read_bytes().decode("latin-1")


def test_the_database_copied_elsewhere_is_no_cookie(tmp_path: Path) -> None:
    # What a copy of the file gives someone: the hash, which is not a session id here.
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), [1_000.0])
    store.create({SIGNED_IN_KEY: PERSON})
    (row,) = _rows(path)
    assert store.load(str(row["id_sha256"]), touch=False) is None


def test_changes_to_the_session_are_written_through(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), clock)
    sid = store.create({SIGNED_IN_KEY: PERSON, "decision_forms": {}})
    record = store.load(sid, touch=True)
    assert record is not None
    record.data["decision_forms"]["form-1"] = "open"
    store.save(sid, record)
    again = _store(PrivateSqlite(path), clock)
    reloaded = again.load(sid, touch=False)
    assert reloaded is not None
    assert reloaded.data["decision_forms"] == {"form-1": "open"}


def test_expiry_holds_across_a_restart(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    sid = _store(PrivateSqlite(path), clock).create({SIGNED_IN_KEY: PERSON})
    clock[0] += 29 * 60
    assert _store(PrivateSqlite(path), clock).load(sid, touch=False) is not None
    clock[0] += 2 * 60  # 31 minutes idle
    late = _store(PrivateSqlite(path), clock)
    assert late.load(sid, touch=False) is None
    assert _rows(path) == []  # an expired session is deleted, not only ignored


def test_activity_is_kept_so_a_restart_does_not_end_a_busy_session(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), clock)
    sid = store.create({SIGNED_IN_KEY: PERSON})
    clock[0] += 25 * 60
    assert store.load(sid, touch=True) is not None  # a page view
    clock[0] += 25 * 60  # 50 minutes since sign-in, 25 since the last page
    assert _store(PrivateSqlite(path), clock).load(sid, touch=False) is not None


def test_the_absolute_limit_holds_whatever_the_activity(tmp_path: Path) -> None:
    clock = [1_000.0]
    store = _store(PrivateSqlite(tmp_path / "console.sqlite"), clock)
    sid = store.create({SIGNED_IN_KEY: PERSON})
    for _ in range(40):  # a page every 15 minutes for 10 hours
        clock[0] += 15 * 60
        store.load(sid, touch=True)
    assert store.load(sid, touch=True) is None


def test_signing_out_deletes_the_row(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), [1_000.0])
    sid = store.create({SIGNED_IN_KEY: PERSON})
    store.delete(sid)
    assert _rows(path) == []
    assert _store(PrivateSqlite(path), [1_000.0]).load(sid, touch=False) is None


def test_unfinished_sign_ins_stay_in_memory(tmp_path: Path) -> None:
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), [1_000.0])
    visitor = store.create({"_state_x": "pending", "verifier": "pkce-secret"})
    assert store.load(visitor, touch=False) is not None
    assert _rows(path) == []
    assert b"pkce-secret" not in path.read_bytes()


def test_the_signed_in_pool_stays_bounded_across_restarts(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    first = _store(PrivateSqlite(path), clock, max_sessions=2)
    oldest = first.create({SIGNED_IN_KEY: PERSON})
    clock[0] += 1
    kept = first.create({SIGNED_IN_KEY: PERSON})
    clock[0] += 1
    again = _store(PrivateSqlite(path), clock, max_sessions=2)
    newest = again.create({SIGNED_IN_KEY: PERSON})  # full: the least recently used goes
    assert len(_rows(path)) == 2
    assert again.load(oldest, touch=False) is None
    assert again.load(kept, touch=False) is not None
    assert again.load(newest, touch=False) is not None


def test_expired_sessions_make_room_before_live_ones(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), clock, max_sessions=2)
    stale = store.create({SIGNED_IN_KEY: PERSON})
    clock[0] += 20 * 60
    busy = store.create({SIGNED_IN_KEY: PERSON})
    clock[0] += 11 * 60  # `stale` is 31 minutes idle, `busy` 11
    store.create({SIGNED_IN_KEY: PERSON})
    assert store.load(stale, touch=False) is None
    assert store.load(busy, touch=False) is not None


def test_seconds_left_is_the_sooner_of_the_two_limits() -> None:
    assert session_seconds_left(created_at=0, last_seen=0, now=600, policy=POLICY) == 1200
    late = 10 * 3600 - 300  # five minutes before the end of the shift
    assert session_seconds_left(created_at=0, last_seen=late, now=late, policy=POLICY) == 300
    assert session_seconds_left(created_at=0, last_seen=0, now=3600, policy=POLICY) == 0


def test_activity_is_written_now_and_then_not_on_every_page(tmp_path: Path) -> None:
    clock = [1_000.0]
    path = tmp_path / "console.sqlite"
    store = _store(PrivateSqlite(path), clock)
    sid = store.create({SIGNED_IN_KEY: PERSON})
    for _ in range(5):  # five pages within a few seconds: no write
        clock[0] += 1
        assert store.load(sid, touch=True) is not None
    assert _rows(path)[0]["last_seen"] == 1_000.0
    clock[0] += 10  # a page ten seconds on is written
    assert store.load(sid, touch=True) is not None
    assert _rows(path)[0]["last_seen"] == clock[0]
    # After a restart the session is at most that far behind: still signed in.
    again = _store(PrivateSqlite(path), clock)
    record = again.load(sid, touch=False)
    assert record is not None
    assert clock[0] - record.last_seen < 10
