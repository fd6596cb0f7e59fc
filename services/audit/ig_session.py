"""IG officers in a browser: sign in with OpenID Connect (authorization code + PKCE) and use the
IG API's pages (the subject access report, ...) without pasting tokens.

GET  /ig/                 the signed-in start page (who, until when; open a child's report)
GET  /ig/sign-in?next=    to the identity provider (state, nonce, PKCE S256, resource
                          safehub-audit); the IG API is a confidential client
                          (`safehub-audit-web`, private_key_jwt: no shared secret)
GET  /ig/callback         the code back: checked state (bound to this browser by a cookie) and
                          issuer, exchanged for an access token for this API, which is
                          validated exactly as a bearer token is
POST /ig/sign-out         ends the session
GET  /ig/report?child=    to the report page of that child

The session is the access token, kept on the server under a random id (the cookie holds only
the id), and ends when the token does (10 minutes by default): a short session, no refresh.
Every request re-validates the token (signature, issuer, audience, expiry, roles), so a
session is worth exactly what a bearer token is, and the routes audit it the same way.

For routes: `caller_claims` (the API's `_claims` uses it) accepts a bearer token or the
session. A page route outside api.py (e.g. the family report pages) depends on
`IgOfficer` (`require_ig_officer`): the caller's claims with the IG role checked; an
unauthenticated browser asking for a page is sent to sign in and brought back.

Why the access token and not the ID token: the IG API is the token's audience and already
validates it fully; the ID token would only repeat who signed in.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Annotated, Any, cast
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from joserfc import jwt

from services.audit.auth import Claims, ClaimsValidator
from services.audit.break_glass_routes import unreviewed_for
from services.audit.settings import AuditSettings
from services.hubkit.auth import AuthError, Forbidden, TokenMissing, bearer_token
from services.hubkit.client_credentials import CLIENT_ASSERTION_TYPE
from services.hubkit.jwt_keys import SIGNING_ALGORITHM, load_key
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client

__all__ = [
    "SESSION_COOKIE",
    "IgOfficer",
    "IgSignIn",
    "caller_claims",
    "install_ig_signin",
    "require_ig_officer",
]

SESSION_COOKIE = "safehub_ig_session"
_STATE_COOKIE = "safehub_ig_signin"
_SIGN_IN_TTL_S = 600
_SCOPES = "openid profile roles"
_NO_STORE = {"Cache-Control": "no-store"}
# Calm, high contrast (WCAG 2.2 AA), visible keyboard focus; the identity provider's look.
_STYLE = (
    "body{font:1.125rem/1.5 system-ui,sans-serif;color:#0b0c0c;margin:0}"
    "header{background:#1d4e89;color:#fff;padding:.75rem 1.5rem}header p{margin:0}"
    "main{max-width:40rem;margin:2rem auto;padding:0 1.5rem}"
    "label{display:block;font-weight:600}"
    "input{font:inherit;padding:.4rem;width:100%;border:2px solid #0b0c0c}"
    "button,.button{font:inherit;font-weight:600;color:#fff;background:#1d4e89;border:0;"
    "padding:.5rem 1rem;margin-top:.75rem;text-decoration:none;display:inline-block}"
    "a{color:#1d4e89}:focus-visible{outline:3px solid #ffdd00;box-shadow:0 0 0 6px #0b0c0c}"
)


def _pkce_s256(verifier: str) -> str:
    """RFC 7636 4.2: base64url(SHA-256(verifier)), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class SignInNeeded(TokenMissing):
    """A browser asked for a page without a session: sent to sign in (not a 401 body)."""

    def __init__(self, next_path: str) -> None:
        super().__init__()
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class _PendingSignIn:
    verifier: str
    next_path: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Session:
    access_token: str
    expires_at: float


class IgSignIn:
    """Pending sign-ins (by state) and sessions (by id), in memory: one API process."""

    def __init__(
        self,
        settings: AuditSettings,
        hub: HubSettings,
        *,
        clock: Callable[[], float] = time.time,
        new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(32),
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.clock = clock
        self.new_secret = new_secret
        self._pending: dict[str, _PendingSignIn] = {}
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    def begin(self, next_path: str) -> tuple[str, str]:
        """(state, the identity provider's authorization URL) for a new sign-in."""
        now = self.clock()
        state, verifier, nonce = self.new_secret(), self.new_secret(), self.new_secret()
        with self._lock:
            self._pending = {k: v for k, v in self._pending.items() if v.expires_at > now}
            self._pending[state] = _PendingSignIn(verifier, next_path, now + _SIGN_IN_TTL_S)
        settings = self.settings
        query = urlencode(
            {
                "response_type": "code",
                "client_id": settings.signin_client_id,
                "redirect_uri": settings.signin_redirect_uri,
                "scope": _SCOPES,
                "state": state,
                "nonce": nonce,
                "code_challenge": _pkce_s256(verifier),
                "code_challenge_method": "S256",
                "resource": settings.token_audience,
            }
        )
        return state, f"{settings.resolved_token_issuer()}/authorize?{query}"

    def take_pending(self, state: str) -> _PendingSignIn | None:
        with self._lock:
            found = self._pending.pop(state, None)
        return found if found is not None and found.expires_at > self.clock() else None

    async def redeem(self, code: str, verifier: str) -> tuple[str, float]:
        """The access token (and its expiry) for this code: a token request authenticated
        with a client assertion signed by the IG API's key."""
        settings = self.settings
        # Posted (and addressed) to the provider as this service reaches it; the browser
        # went to the issuer's /authorize.
        token_endpoint = f"{settings.resolved_identity_url()}/token"
        key = load_key(settings.resolved_signin_client_key(self.hub))
        now = int(self.clock())
        assertion = jwt.encode(
            {"alg": SIGNING_ALGORITHM, "kid": key.kid},
            {
                "iss": settings.signin_client_id,
                "sub": settings.signin_client_id,
                "aud": token_endpoint,
                "iat": now,
                "exp": now + 60,
                "jti": self.new_secret(),
            },
            key,
            algorithms=[SIGNING_ALGORITHM],
        )
        async with http_client(self.hub, timeout=10) as http:
            answer = await http.post(
                token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": settings.signin_redirect_uri,
                    "code_verifier": verifier,
                    "resource": settings.token_audience,
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": assertion,
                },
            )
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise _SignInFailed(f"the token endpoint answered {answer.status_code}")
        return str(body["access_token"]), now + float(body.get("expires_in", 0))

    def open_session(self, access_token: str, expires_at: float) -> str:
        session_id = self.new_secret()
        now = self.clock()
        with self._lock:
            self._sessions = {k: v for k, v in self._sessions.items() if v.expires_at > now}
            self._sessions[session_id] = _Session(access_token, expires_at)
        return session_id

    def session_token(self, session_id: str) -> str | None:
        with self._lock:
            found = self._sessions.get(session_id)
        return found.access_token if found and found.expires_at > self.clock() else None

    def session_expiry(self, session_id: str) -> float | None:
        with self._lock:
            found = self._sessions.get(session_id)
        return found.expires_at if found else None

    def end_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)


class _SignInFailed(Exception):
    pass


def _signin(request: Request) -> IgSignIn:
    return cast(IgSignIn, request.app.state.ig_signin)


def _validator(request: Request) -> ClaimsValidator:
    return cast(ClaimsValidator, request.app.state.ctx.validator)


def _wants_page(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


async def caller_claims(request: Request) -> Claims:
    """The caller: from `Authorization: Bearer` if sent, else from the browser session."""
    header = request.headers.get("authorization")
    if header is not None:
        return await _validator(request).validate(bearer_token(header))
    session_id = request.cookies.get(SESSION_COOKIE, "")
    token = _signin(request).session_token(session_id) if session_id else None
    if token is None:
        if _wants_page(request):
            raise SignInNeeded(
                request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
        raise TokenMissing()
    return await _validator(request).validate(token)


async def require_ig_officer(
    request: Request, claims: Annotated[Claims, Depends(caller_claims)]
) -> Claims:
    """The caller's claims, refused (403) without the IG role. Routes in api.py use `Audited`
    instead, which also logs the query before it runs; a page built on those routes' data
    should too."""
    role = cast(AuditSettings, request.app.state.ctx.settings).ig_role
    if role not in claims.roles:
        raise Forbidden(f"this page needs the {role} role")
    return claims


IgOfficer = Annotated[Claims, Depends(require_ig_officer)]


def _safe_next(value: str) -> str:
    # Only a path on this API: never an absolute URL (an open redirector).
    return value if value.startswith("/") and not value.startswith("//") else "/ig/"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - safehub audit (synthetic data)</title>
<style>{_STYLE}</style></head>
<body><header><p><strong>safehub</strong> audit: information governance</p></header>
<main id="main"><h1>{escape(title)}</h1>{body}</main></body></html>""",
        status_code=status,
        headers={
            **_NO_STORE,
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "no-referrer",
        },
    )


router = APIRouter(prefix="/ig", include_in_schema=False)

# The prevalence figures and the decision mix (figures_api.py) for a period: one form, a
# button per view (both take from/to as days, `to` exclusive).
_FIGURES_FORM = (
    '<h2>Figures for a period</h2><form method="get" action="/v1/figures/prevalence">'
    '<label for="fig-from">First day</label><input id="fig-from" name="from" type="date" '
    'required><label for="fig-to">Day after the last</label><input id="fig-to" name="to" '
    'type="date" required><button type="submit">Prevalence figures (for the partnership)'
    '</button> <button type="submit" formaction="/v1/figures/decision-mix">Decision mix '
    "(IG only)</button></form>"
)


@router.get("/")
async def start_page(request: Request) -> Response:
    signin = _signin(request)
    session_id = request.cookies.get(SESSION_COOKIE, "")
    token = signin.session_token(session_id) if session_id else None
    if token is None:
        return _page(
            "Information governance",
            "<p>Sign in with your IG officer account to read subject access reports.</p>"
            '<p><a class="button" href="/ig/sign-in">Sign in</a></p>',
        )
    claims = await _validator(request).validate(token)
    until = time.strftime("%H:%M", time.localtime(signin.session_expiry(session_id) or 0))
    who = (
        f"<p>You are signed in as an IG officer until {until}.</p>"
        if signin.settings.ig_role in claims.roles
        else "<p>You are signed in, but without the IG officer role.</p>"
    )
    if signin.settings.ig_role in claims.roles:
        # Emergency access to this officer's agency's information waiting for their review.
        waiting = await run_in_threadpool(unreviewed_for, request, claims.agency)
        who += (
            f'<p><a class="button" href="/ig/break-glass">Emergency access to review '
            f"({waiting} not reviewed yet)</a></p>"
        )
    return _page(
        "Information governance",
        who + '<p><a class="button" href="/v1/children/find">Find a child for a subject access '
        "request</a></p>"
        '<form method="get" action="/ig/report"><label for="child">Child\'s pseudonymous '
        'key</label><input id="child" name="child" autocomplete="off" spellcheck="false" '
        'required><button type="submit">Open the subject access report</button></form>'
        + _FIGURES_FORM
        + '<form method="post" action="/ig/sign-out"><button type="submit">Sign out</button>'
        "</form>",
    )


@router.get("/report")
async def open_report(child: str = "") -> Response:
    if not child.strip():
        return RedirectResponse("/ig/", status_code=303)
    return RedirectResponse(
        f"/v1/subjects/{quote(child.strip(), safe='')}/access-report.html", status_code=303
    )


@router.get("/sign-in")
async def sign_in(request: Request, next: str = "/ig/") -> Response:
    signin = _signin(request)
    state, url = signin.begin(_safe_next(next))
    response = RedirectResponse(url, status_code=303, headers=_NO_STORE)
    response.set_cookie(
        _STATE_COOKIE,
        state,
        max_age=_SIGN_IN_TTL_S,
        path="/ig/callback",
        httponly=True,
        samesite="lax",  # sent on the identity provider's redirect back (a top-level GET)
        secure=signin.settings.public_url.startswith("https://"),
    )
    return response


@router.get("/callback")
async def callback(
    request: Request,
    state: str = "",
    code: str = "",
    iss: str = "",
    error: str = "",
) -> Response:
    signin = _signin(request)
    if error:
        message = (
            "Your account does not have the IG officer role, so it cannot use these pages."
            if error == "access_denied"
            else "The sign-in did not complete."
        )
        return _page(
            "Cannot sign in", f'<p>{message}</p><p><a href="/ig/">Start again</a></p>', 403
        )
    cookie = request.cookies.get(_STATE_COOKIE, "")
    pending = (
        signin.take_pending(state) if state and secrets.compare_digest(cookie, state) else None
    )
    if pending is None or not code or iss != signin.settings.resolved_token_issuer():
        return _page(
            "Cannot sign in",
            "<p>This sign-in has expired or was started in another browser.</p>"
            '<p><a href="/ig/sign-in">Sign in again</a></p>',
            400,
        )
    try:
        token, expires_at = await signin.redeem(code, pending.verifier)
        await _validator(request).validate(token)
    except (_SignInFailed, AuthError):
        return _page(
            "Cannot sign in",
            "<p>The identity provider did not give a valid sign-in.</p>"
            '<p><a href="/ig/sign-in">Try again</a></p>',
            502,
        )
    session_id = signin.open_session(token, expires_at)
    response = RedirectResponse(pending.next_path, status_code=303, headers=_NO_STORE)
    response.delete_cookie(_STATE_COOKIE, path="/ig/callback")
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=max(1, int(expires_at - signin.clock())),
        path="/",
        httponly=True,
        samesite="lax",
        secure=signin.settings.public_url.startswith("https://"),
    )
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    _signin(request).end_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/ig/", status_code=303, headers=_NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _to_sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInNeeded)
    return RedirectResponse(
        f"/ig/sign-in?{urlencode({'next': error.next_path})}", status_code=303, headers=_NO_STORE
    )


def install_ig_signin(
    app: FastAPI, settings: AuditSettings, hub: HubSettings, **kwargs: Any
) -> None:
    """Add the browser sign-in to the IG API (one call in its create_app)."""
    app.state.ig_signin = IgSignIn(settings, hub, **kwargs)
    app.add_exception_handler(SignInNeeded, _to_sign_in)
    app.include_router(router)
