"""Server-side sessions: the browser holds only a random session id; everything else (who is
signed in, the CSRF token, the OIDC state, PKCE verifier and nonce while signing in) stays
in the console's memory.

Why not Starlette's cookie sessions: a signed cookie cannot be revoked (a copied cookie
outlives "sign out"), and it would put the PKCE verifier in the browser. Here signing out
deletes the session, expiry is enforced on the server (idle and absolute, see
`domain.people.SessionPolicy`), and the id is replaced at sign-in (no session fixation).

Requests under /live/ (the event stream and the fragments it triggers) and /static/ do not
count as activity, so a queue left open on an unattended screen still times out.

Two bounded pools, so that nobody can sign anybody else out by opening sessions: anyone can
start a sign-in (GET /login keeps its OIDC state here) without a password, so those
*signing-in* sessions have a pool of their own, short-lived, where a flood only pushes out
other unfinished sign-ins. A *signed-in* session (one holding the person, after the
callback) is in the other pool, which only a successful sign-in can add to; it is never
evicted by signing-in sessions.

Signed-in sessions survive a restart: once the runtime has the console's database
(`SessionStore.keep_in`, called by `ConsoleRuntime`), each one is also written to its
`console_sessions` table, read back by id after a restart, and deleted at sign-out, expiry
or eviction. A row holds the SHA-256 of the session id, never the id itself, so a copy of the
database cannot be replayed as cookies; the session's data (the person, the CSRF token, open
decision forms) as JSON; and its creation and last-activity times, so both limits hold across
a restart. Every request still uses the one in-memory copy of its session (concurrent
requests of one session see each other's changes, as before); the row is written through
when it changes. Signing-in sessions (OIDC state, PKCE verifier, nonce) stay in memory only:
a restart in the middle of signing in means signing in again, and nothing secret about an
unfinished sign-in reaches the disk.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.domain.people import SessionPolicy, session_live, session_seconds_left
from services.hubkit.sqlite_store import PrivateSqlite

__all__ = [
    "COOKIE",
    "SIGNED_IN_KEY",
    "SessionControl",
    "SessionMiddleware",
    "SessionStore",
    "session_control",
]

COOKIE = "safehub_console"
_PASSIVE_PREFIXES = ("/live/", "/static/", "/healthz", "/readyz")
# The session key the sign-in callback stores the person under: its presence makes a
# session a signed-in one.
SIGNED_IN_KEY = "person"


_SCHEMA = """
CREATE TABLE IF NOT EXISTS console_sessions (
    id_sha256 TEXT PRIMARY KEY,
    data_json TEXT NOT NULL,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
"""


_SEEN_WRITE_EVERY_S = 10.0


def _id_hash(sid: str) -> str:
    """What a session is kept under: never the id the browser holds."""
    return hashlib.sha256(sid.encode()).hexdigest()


def _as_json(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


@dataclass
class SessionRecord:
    data: dict[str, Any]
    created_at: float
    last_seen: float
    stored: str = ""
    """The data as last written to the database (JSON): written again only when it differs."""
    stored_seen: float = 0.0
    """`last_seen` as last written to the database."""


class _SignedInPool:
    """Signed-in sessions by the hash of their id: in memory, and written through to the
    database once there is one (read back from it after a restart)."""

    def __init__(self) -> None:
        self._memory: dict[str, SessionRecord] = {}
        self._database: PrivateSqlite | None = None

    def keep_in(self, database: PrivateSqlite) -> None:
        database.ensure_schema(_SCHEMA)
        self._database = database
        for key, record in self._memory.items():
            self._insert(key, record)

    def get(self, key: str) -> SessionRecord | None:
        record = self._memory.get(key)
        if record is not None or self._database is None:
            return record
        with self._database.reading() as db:
            row = db.execute(
                "SELECT data_json, created_at, last_seen FROM console_sessions WHERE id_sha256 = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        text = str(row["data_json"])
        seen = float(row["last_seen"])
        record = SessionRecord(json.loads(text), float(row["created_at"]), seen, text, seen)
        self._memory[key] = record
        return record

    def add(self, key: str, record: SessionRecord) -> None:
        self._memory[key] = record
        if self._database is not None:
            self._insert(key, record)

    def _insert(self, key: str, record: SessionRecord) -> None:
        assert self._database is not None
        record.stored = _as_json(record.data)
        record.stored_seen = record.last_seen
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO console_sessions VALUES (?, ?, ?, ?)",
                (key, record.stored, record.created_at, record.last_seen),
            )

    def touch(self, key: str, record: SessionRecord, now: float) -> None:
        record.last_seen = now
        # Not a write per page: the stored time may lag by a few seconds, which after a
        # restart only brings the idle limit that much closer; the limit in memory is exact.
        if self._database is not None and now - record.stored_seen >= _SEEN_WRITE_EVERY_S:
            record.stored_seen = now
            with self._database.transaction() as db:
                db.execute(
                    "UPDATE console_sessions SET last_seen = ? WHERE id_sha256 = ?", (now, key)
                )

    def save(self, key: str, record: SessionRecord) -> None:
        if self._database is None:
            return  # the one copy is the one in memory, already changed
        text = _as_json(record.data)
        if text == record.stored:
            return
        with self._database.transaction() as db:
            db.execute("UPDATE console_sessions SET data_json = ? WHERE id_sha256 = ?", (text, key))
        record.stored = text

    def remove(self, key: str) -> bool:
        found = self._memory.pop(key, None) is not None
        if self._database is not None:
            with self._database.transaction() as db:
                found = (
                    db.execute("DELETE FROM console_sessions WHERE id_sha256 = ?", (key,)).rowcount
                    > 0
                    or found
                )
        return found

    def __len__(self) -> int:
        if self._database is None:
            return len(self._memory)
        with self._database.reading() as db:
            return int(db.execute("SELECT COUNT(*) FROM console_sessions").fetchone()[0])

    def make_room(self, policy: SessionPolicy, now: float) -> None:
        """Expired sessions go first; if none had, the least recently used one."""
        expired = [
            key
            for key, record in self._memory.items()
            if not session_live(
                created_at=record.created_at, last_seen=record.last_seen, now=now, policy=policy
            )
        ]
        for key in expired:
            del self._memory[key]
        if self._database is None:
            if not expired and self._memory:
                del self._memory[min(self._memory, key=lambda k: self._memory[k].last_seen)]
            return
        idle_cutoff = now - policy.idle.total_seconds()
        absolute_cutoff = now - policy.absolute.total_seconds()
        with self._database.transaction() as db:
            gone = db.execute(
                "DELETE FROM console_sessions WHERE last_seen <= ? OR created_at <= ?",
                (idle_cutoff, absolute_cutoff),
            ).rowcount
            if gone or expired:
                return
            row = db.execute(
                "SELECT id_sha256 FROM console_sessions ORDER BY last_seen LIMIT 1"
            ).fetchone()
            if row is not None:
                db.execute("DELETE FROM console_sessions WHERE id_sha256 = ?", (row[0],))
                self._memory.pop(str(row[0]), None)


class SessionStore:
    """Sessions in two bounded pools: signed in, and signing in (see the module docstring).
    When a pool is full, its expired sessions go first, then its least recently used one; a
    pool never evicts from the other. Signed-in sessions are kept in the console's database
    once `keep_in` has been called (they then survive a restart)."""

    def __init__(
        self,
        policy: SessionPolicy,
        *,
        clock: Callable[[], float],
        max_sessions: int = 5000,
        max_signing_in: int = 5000,
        signing_in_ttl_s: float = 600.0,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._max_signed_in = max_sessions
        self._max_signing_in = max_signing_in
        # As long as the identity provider's sign-in form stays valid: an unfinished sign-in
        # older than that can never complete.
        self._signing_in_ttl_s = signing_in_ttl_s
        self._signed_in = _SignedInPool()
        self._signing_in: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    @property
    def policy(self) -> SessionPolicy:
        return self._policy

    def keep_in(self, database: PrivateSqlite) -> None:
        """Keep signed-in sessions in `database` from now on (the console's own store)."""
        with self._lock:
            self._signed_in.keep_in(database)

    def _live(self, record: SessionRecord, *, signed_in: bool, now: float) -> bool:
        if not signed_in and now - record.created_at >= self._signing_in_ttl_s:
            return False
        return session_live(
            created_at=record.created_at, last_seen=record.last_seen, now=now, policy=self._policy
        )

    def load(self, sid: str, *, touch: bool) -> SessionRecord | None:
        now = self._clock()
        key = _id_hash(sid)
        with self._lock:
            record = self._signed_in.get(key)
            if record is not None:
                if not self._live(record, signed_in=True, now=now):
                    self._signed_in.remove(key)
                    return None
                if touch:
                    self._signed_in.touch(key, record, now)
                return record
            record = self._signing_in.get(key)
            if record is None:
                return None
            if not self._live(record, signed_in=False, now=now):
                del self._signing_in[key]
                return None
            if touch:
                record.last_seen = now
            return record

    def seconds_left(self, record: SessionRecord) -> float:
        """How long this session has if nothing else happens (the idle warning's count)."""
        return session_seconds_left(
            created_at=record.created_at,
            last_seen=record.last_seen,
            now=self._clock(),
            policy=self._policy,
        )

    def create(self, data: dict[str, Any]) -> str:
        """A new session for `data`, in the signed-in pool if it holds the person."""
        now = self._clock()
        sid = secrets.token_urlsafe(32)
        key = _id_hash(sid)
        record = SessionRecord(data, now, now)
        with self._lock:
            if SIGNED_IN_KEY in data:
                if len(self._signed_in) >= self._max_signed_in:
                    self._signed_in.make_room(self._policy, now)
                self._signed_in.add(key, record)
            else:
                if len(self._signing_in) >= self._max_signing_in:
                    # The oldest unfinished sign-in goes, in O(1) however hard the pool is
                    # flooded: a dict keeps creation order, and a sign-in's life counts from
                    # its creation.
                    del self._signing_in[next(iter(self._signing_in))]
                self._signing_in[key] = record
        return sid

    def save(self, sid: str, record: SessionRecord) -> None:
        """Write a signed-in session's changed data through to the database."""
        with self._lock:
            self._signed_in.save(_id_hash(sid), record)

    def delete(self, sid: str | None) -> None:
        if sid is None:
            return
        key = _id_hash(sid)
        with self._lock:
            self._signed_in.remove(key)
            self._signing_in.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._signed_in) + len(self._signing_in)


@dataclass
class SessionControl:
    """What a route asks of the session besides editing its data."""

    sid: str | None
    rotate: bool = False
    end: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    seconds_left: float | None = None
    """How long the session has if nothing else happens, as of this request (after it counted
    as activity, or not): what the page's idle warning counts down from."""


def session_control(scope: Scope) -> SessionControl:
    control: SessionControl = scope["safehub.session"]
    return control


class SessionMiddleware:
    def __init__(self, app: ASGIApp, *, store: SessionStore, secure: bool) -> None:
        self._app = app
        self._store = store
        self._secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        sid = _cookie(scope, COOKIE)
        path = str(scope.get("path", ""))
        touch = not path.startswith(_PASSIVE_PREFIXES)
        record = self._store.load(sid, touch=touch) if sid else None
        data: dict[str, Any] = record.data if record else {}
        scope["session"] = data
        control = SessionControl(sid if record else None)
        if record is not None:
            control.seconds_left = self._store.seconds_left(record)
        scope["safehub.session"] = control
        was_signed_in = SIGNED_IN_KEY in data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not was_signed_in and SIGNED_IN_KEY in scope["session"]:
                    # Signed in just now: a new id, in the signed-in pool (no fixation).
                    control.rotate = True
                cookie = self._settle(control, scope["session"], record)
                if cookie is not None:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", cookie)
            await send(message)

        await self._app(scope, receive, send_with_cookie)

    def _settle(
        self, control: SessionControl, data: dict[str, Any], record: SessionRecord | None
    ) -> str | None:
        """Persist the session's outcome; returns a Set-Cookie value when the id changes."""
        if control.end:
            self._store.delete(control.sid)
            return self._cookie("", max_age=0)
        if control.sid is None:
            if not data:
                return None
            control.sid = self._store.create(data)
            return self._cookie(control.sid)
        if control.rotate:
            self._store.delete(control.sid)
            control.sid = self._store.create(data)
            control.rotate = False
            return self._cookie(control.sid)
        if record is not None and SIGNED_IN_KEY in data:
            self._store.save(control.sid, record)  # only what changed is written
        return None

    def _cookie(self, value: str, *, max_age: int | None = None) -> str:
        # Lax, not Strict: the identity provider's redirect back to /auth/callback is a
        # cross-site top-level navigation that must carry the session (the OIDC state).
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if self._secure:
            parts.append("Secure")
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        return "; ".join(parts)


def _cookie(scope: Scope, name: str) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed Cookie header means no session, not an error
                return None
            if name in jar:
                return jar[name].value
    return None
