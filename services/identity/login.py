"""The authorization endpoint and its sign-in form (OIDC Core 3.1.2), for people.

GET  /authorize             validate the request, show the sign-in form
POST /authorize             check the password; redirect back with a single-use code
GET  /assets/login.css      the form's stylesheet (a file, so the CSP needs no inline style)

The identity provider keeps no session of its own: every sign-in asks for the password
(MASH workstations are shared; a silent single sign-on would let the next person in).
The form carries an opaque transaction id; a cookie set with the form binds that id to the
browser that asked, so a sign-in cannot be completed from another browser (login CSRF).

The password check (scrypt, deliberately slow) runs on a few worker threads, never on the
event loop, which the adapters share when `safehub adapters serve` or `safehub demo` runs
them together; a flood of sign-ins waits for those threads, and beyond a bounded queue is
answered 503 at once (`users.ThreadedPasswordCheck`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.identity.authcode import CodeStore, PendingLogin, PendingLogins
from services.identity.clients import FileClientRegistry
from services.identity.errors import (
    RedirectableAuthorizationError,
    UnsafeAuthorizationRequest,
)
from services.identity.oidc import (
    IssuedCode,
    check_authorization_request,
    check_client_redirect,
    person_may_use,
    redirect_uri_with,
    resources_of,
)
from services.identity.settings import IdentitySettings
from services.identity.users import LoginThrottle, PasswordCheckBusy, ThreadedPasswordCheck

__all__ = ["PeopleRuntime", "login_router", "page_headers"]

_HERE = Path(__file__).parent
_TEMPLATES = Jinja2Templates(directory=str(_HERE / "templates"))
_TXN_COOKIE = "safehub_idp_txn"


def page_headers(redirect_uri: str | None = None) -> dict[str, str]:
    """The sign-in page must never be framed (clickjacking), cached or leak its URL onwards.

    `form-action` must also allow the client's redirect URI: browsers apply it to the
    redirect that follows the form's submission, not just to the form's own target.
    """
    form_action = "'self'"
    if redirect_uri:
        parts = urlsplit(redirect_uri)
        form_action += f" {parts.scheme}://{parts.netloc}"
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'self'; form-action {form_action}; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


@dataclass(frozen=True, slots=True)
class PeopleRuntime:
    settings: IdentitySettings
    clients: FileClientRegistry
    logins: PendingLogins
    codes: CodeStore
    passwords: ThreadedPasswordCheck
    throttle: LoginThrottle
    clock: Callable[[], float]
    new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(32)


def _people(request: Request) -> PeopleRuntime:
    return cast(PeopleRuntime, request.app.state.people)


login_router = APIRouter(tags=["oidc"])


def _page(
    request: Request,
    *,
    txn: str | None,
    redirect_uri: str,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return _TEMPLATES.TemplateResponse(
        request,
        "login.html",
        {"txn": txn, "error": error},
        status_code=status,
        headers=page_headers(redirect_uri),
    )


def _problem(request: Request, message: str, status: int = 400) -> Response:
    return _TEMPLATES.TemplateResponse(
        request,
        "problem.html",
        {"message": message},
        status_code=status,
        headers=page_headers(),
    )


def _redirect_error(error: RedirectableAuthorizationError, issuer: str) -> Response:
    target = redirect_uri_with(
        error.redirect_uri,
        {
            "error": error.error,
            "error_description": error.description,
            "state": error.state,
            "iss": issuer,
        },
    )
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})


@login_router.get("/authorize", summary="Authorization endpoint (shows the sign-in form)")
async def authorize(request: Request) -> Response:
    people = _people(request)
    params = dict(request.query_params)
    try:
        registration = people.clients.get(params.get("client_id", ""))
        client_id, redirect_uri = check_client_redirect(params, registration)
        assert registration is not None  # check_client_redirect refuses an unknown client
        if len(request.query_params.getlist("resource")) > 1:
            raise RedirectableAuthorizationError(
                "invalid_target",
                "ask for a token for one API per sign-in",
                redirect_uri=redirect_uri,
                state=params.get("state"),
            )
        auth_request = check_authorization_request(
            params,
            client_id=client_id,
            redirect_uri=redirect_uri,
            client_resources=resources_of(registration),
            apis=people.settings.person_apis,
        )
    except UnsafeAuthorizationRequest as error:
        return _problem(request, f"This sign-in link is not valid ({error.description}).")
    except RedirectableAuthorizationError as error:
        return _redirect_error(error, people.settings.issuer)
    now = people.clock()
    txn = people.new_secret()
    people.logins.put(
        txn,
        PendingLogin(auth_request, expires_at=now + people.settings.login_ttl_s),
        expires_at=now + people.settings.login_ttl_s,
        now=now,
    )
    response = _page(request, txn=txn, redirect_uri=auth_request.redirect_uri)
    response.set_cookie(
        _TXN_COOKIE,
        txn,
        max_age=people.settings.login_ttl_s,
        path="/authorize",
        httponly=True,
        samesite="strict",
        secure=people.settings.issuer.startswith("https://"),
    )
    return response


@login_router.post("/authorize", summary="Sign-in form submission")
async def sign_in(request: Request) -> Response:
    people = _people(request)
    form = await request.form()
    txn = str(form.get("txn", ""))
    username = str(form.get("username", "")).strip().lower()
    password = str(form.get("password", ""))
    now = people.clock()
    cookie = request.cookies.get(_TXN_COOKIE, "")
    pending = people.logins.peek(txn, now=now) if txn else None
    if pending is None or not hmac.compare_digest(cookie, txn):
        return _problem(
            request,
            "This sign-in page has expired or was opened in another browser. Go back to the "
            "service and start signing in again.",
        )
    redirect_uri = pending.request.redirect_uri
    if not username or not password:
        return _page(
            request,
            txn=txn,
            redirect_uri=redirect_uri,
            error="Enter your username and password.",
            status=400,
        )
    if not people.throttle.admit(username, now):
        return _page(
            request,
            txn=txn,
            redirect_uri=redirect_uri,
            error="Too many attempts. Wait 5 minutes, then try again.",
            status=429,
        )
    try:
        user = await people.passwords.check(username, password)
    except PasswordCheckBusy:
        busy = _page(
            request,
            txn=txn,
            redirect_uri=redirect_uri,
            error="Too many people are signing in right now. Try again in a few seconds.",
            status=503,
        )
        busy.headers["Retry-After"] = "5"
        return busy
    if user is None:  # already counted as a failure by `admit`
        # One message whether the username or the password was wrong (no enumeration).
        return _page(
            request,
            txn=txn,
            redirect_uri=redirect_uri,
            error="The username or password is not right.",
            status=401,
        )
    people.throttle.succeeded(username)
    people.logins.take(txn)
    auth = pending.request
    api = people.settings.person_apis.get(auth.resource)
    if api is None or not person_may_use(user, allowed_roles=api.roles):
        # Signed in, but not allowed a token for the API this client asked for (the IG
        # audit API, say): the client is told so, and no code exists to redeem.
        return _redirect_error(
            RedirectableAuthorizationError(
                "access_denied",
                "your roles do not allow access to this service",
                redirect_uri=auth.redirect_uri,
                state=auth.state,
            ),
            people.settings.issuer,
        )
    code = people.new_secret()
    people.codes.put(
        code,
        IssuedCode(
            client_id=auth.client_id,
            redirect_uri=auth.redirect_uri,
            subject=user.subject,
            scopes=auth.scopes,
            nonce=auth.nonce,
            code_challenge=auth.code_challenge,
            auth_time=int(now),
            expires_at=now + people.settings.code_ttl_s,
            resource=auth.resource,
        ),
        expires_at=now + people.settings.code_ttl_s,
        now=now,
    )
    target = redirect_uri_with(
        auth.redirect_uri, {"code": code, "state": auth.state, "iss": people.settings.issuer}
    )
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(_TXN_COOKIE, path="/authorize")
    return response


@login_router.get("/assets/login.css", include_in_schema=False)
async def login_css() -> FileResponse:
    return FileResponse(_HERE / "templates" / "login.css", media_type="text/css")
