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
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.domain.people import SessionPolicy, session_live

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


@dataclass
class SessionRecord:
    data: dict[str, Any]
    created_at: float
    last_seen: float


class SessionStore:
    """Sessions in memory (one console process), in two bounded pools: signed in, and
    signing in (see the module docstring). When a pool is full, its expired sessions go
    first, then its least recently used one; a pool never evicts from the other."""

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
        self._signed_in: dict[str, SessionRecord] = {}
        self._signing_in: dict[str, SessionRecord] = {}
        self._lock = threading.Lock()

    def _live(self, record: SessionRecord, *, signed_in: bool, now: float) -> bool:
        if not signed_in and now - record.created_at >= self._signing_in_ttl_s:
            return False
        return session_live(
            created_at=record.created_at, last_seen=record.last_seen, now=now, policy=self._policy
        )

    def load(self, sid: str, *, touch: bool) -> SessionRecord | None:
        now = self._clock()
        with self._lock:
            for pool, signed_in in ((self._signed_in, True), (self._signing_in, False)):
                record = pool.get(sid)
                if record is None:
                    continue
                if not self._live(record, signed_in=signed_in, now=now):
                    del pool[sid]
                    return None
                if touch:
                    record.last_seen = now
                return record
            return None

    def alive(self, sid: str | None) -> bool:
        return sid is not None and self.load(sid, touch=False) is not None

    def create(self, data: dict[str, Any]) -> str:
        """A new session for `data`, in the signed-in pool if it holds the person."""
        now = self._clock()
        sid = secrets.token_urlsafe(32)
        signed_in = SIGNED_IN_KEY in data
        pool = self._signed_in if signed_in else self._signing_in
        limit = self._max_signed_in if signed_in else self._max_signing_in
        with self._lock:
            if len(pool) >= limit:
                self._make_room(pool, signed_in=signed_in, now=now)
            pool[sid] = SessionRecord(data, now, now)
        return sid

    def _make_room(self, pool: dict[str, SessionRecord], *, signed_in: bool, now: float) -> None:
        if not signed_in:
            # The oldest unfinished sign-in goes, in O(1) however hard the pool is flooded:
            # a dict keeps creation order, and a sign-in's life counts from its creation.
            del pool[next(iter(pool))]
            return
        expired = [k for k, r in pool.items() if not self._live(r, signed_in=True, now=now)]
        for key in expired:
            del pool[key]
        if not expired:
            del pool[min(pool, key=lambda k: pool[k].last_seen)]

    def delete(self, sid: str | None) -> None:
        if sid is None:
            return
        with self._lock:
            self._signed_in.pop(sid, None)
            self._signing_in.pop(sid, None)

    def __len__(self) -> int:
        return len(self._signed_in) + len(self._signing_in)


@dataclass
class SessionControl:
    """What a route asks of the session besides editing its data."""

    sid: str | None
    rotate: bool = False
    end: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


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
        scope["safehub.session"] = control
        was_signed_in = SIGNED_IN_KEY in data

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                if not was_signed_in and SIGNED_IN_KEY in scope["session"]:
                    # Signed in just now: a new id, in the signed-in pool (no fixation).
                    control.rotate = True
                cookie = self._settle(control, scope["session"])
                if cookie is not None:
                    headers = MutableHeaders(scope=message)
                    headers.append("Set-Cookie", cookie)
            await send(message)

        await self._app(scope, receive, send_with_cookie)

    def _settle(self, control: SessionControl, data: dict[str, Any]) -> str | None:
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
