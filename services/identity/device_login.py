"""The device grant's two HTTP ends (RFC 8628; the rules are in device.py).

POST /device_authorization   a command-line client asks to sign a person in (form: client_id,
                             optional scope and resource); answers device_code, user_code,
                             verification_uri(_complete), expires_in, interval
GET  /device                 the verification page: the code (prefilled from ?user_code=),
                             username, password; "Sign in and approve" or "Deny"
POST /device                 the person's answer

The page reuses the sign-in form's password check, throttle and look (login.py, login.css).
Wrong user codes are limited per client address and overall (user_code_attempts.py, RFC 8628
5.1): once a limit is reached the page answers 429 with Retry-After before it looks any code
up. A code answers one sign-in once. Only counts are logged, never a code that was typed.
Denying needs only the code (a person may refuse what they did not start without a
password); approving needs the password, every time, like every sign-in here. A double-
submit cookie binds the form to the browser that opened it.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.templating import Jinja2Templates

from services.identity.clients import FileClientRegistry
from services.identity.device import (
    USER_CODE_ALPHABET,
    USER_CODE_LENGTH,
    DeviceAuthorizations,
    UserCodeNotAccepted,
    check_user_code_entry,
    format_user_code,
    start_device_authorization,
)
from services.identity.errors import InvalidRequest
from services.identity.login import PeopleRuntime, page_headers
from services.identity.oidc import person_may_use, redirect_uri_with
from services.identity.user_code_attempts import UserCodeAttemptsLog
from services.identity.users import PasswordCheckBusy

__all__ = ["DeviceRuntime", "device_router", "new_user_code"]

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_FORM_COOKIE = "safehub_idp_device"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
log = logging.getLogger("safehub.identity")


def new_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


@dataclass(frozen=True, slots=True)
class DeviceRuntime:
    pending: DeviceAuthorizations
    clients: FileClientRegistry
    wrong_codes: UserCodeAttemptsLog
    new_device_code: Callable[[], str] = lambda: secrets.token_urlsafe(32)
    new_user_code: Callable[[], str] = new_user_code


def _devices(request: Request) -> DeviceRuntime:
    return cast(DeviceRuntime, request.app.state.devices)


def _people(request: Request) -> PeopleRuntime:
    return cast(PeopleRuntime, request.app.state.people)


device_router = APIRouter(tags=["oauth2"])


@device_router.post(
    "/device_authorization",
    summary="Device authorization endpoint (RFC 8628 3.1)",
    description="application/x-www-form-urlencoded: client_id (a registered command-line "
    "client, e.g. safehub-ig-cli), optional scope (openid profile roles) and resource.",
)
async def device_authorization(request: Request) -> JSONResponse:
    people = _people(request)
    devices = _devices(request)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    if len(values) != len(form.multi_items()):
        raise InvalidRequest("send each parameter once, as a plain value")
    now = people.clock()
    settings = people.settings
    pending = start_device_authorization(
        values,
        devices.clients.get(values.get("client_id", "")),
        apis=settings.person_apis,
        device_code=devices.new_device_code(),
        user_code=devices.new_user_code(),
        now=now,
        ttl_s=settings.device_code_ttl_s,
        interval_s=settings.device_poll_interval_s,
    )
    devices.pending.put(pending, now=now)
    shown = format_user_code(pending.user_code)
    return JSONResponse(
        {
            "device_code": pending.device_code,
            "user_code": shown,
            "verification_uri": settings.device_verification_uri,
            "verification_uri_complete": redirect_uri_with(
                settings.device_verification_uri, {"user_code": shown}
            ),
            "expires_in": settings.device_code_ttl_s,
            "interval": pending.interval_s,
        },
        headers=_NO_STORE,
    )


def _page(
    request: Request,
    *,
    txn: str = "",
    user_code: str = "",
    error: str | None = None,
    error_field: str | None = None,
    done: str | None = None,
    done_title: str = "",
    status: int = 200,
    retry_after_s: int | None = None,
) -> Response:
    headers = page_headers()
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    return _TEMPLATES.TemplateResponse(
        request,
        "device.html",
        {
            "txn": txn,
            "user_code": user_code,
            "error": error,
            "error_field": error_field,
            "done": done,
            "done_title": done_title,
        },
        status_code=status,
        headers=headers,
    )


@device_router.get("/device", summary="Approve a command-line sign-in (verification page)")
async def device_page(request: Request, user_code: str = "") -> Response:
    txn = _people(request).new_secret()
    response = _page(request, txn=txn, user_code=user_code[:16])
    _set_form_cookie(request, response, txn)
    return response


def _set_form_cookie(request: Request, response: Response, txn: str) -> None:
    people = _people(request)
    response.set_cookie(
        _FORM_COOKIE,
        txn,
        max_age=people.settings.login_ttl_s,
        path="/device",
        httponly=True,
        samesite="strict",
        secure=people.settings.issuer.startswith("https://"),
    )


@device_router.post("/device", summary="The person's answer on the verification page")
async def device_answer(request: Request) -> Response:
    people = _people(request)
    devices = _devices(request)
    form = await request.form()
    txn = str(form.get("txn", ""))
    user_code = str(form.get("user_code", ""))[:16]
    username = str(form.get("username", "")).strip().lower()
    password = str(form.get("password", ""))
    decision = str(form.get("decision", ""))
    now = people.clock()

    def again(message: str, field: str, status: int, retry_after_s: int | None = None) -> Response:
        fresh = people.new_secret()
        page = _page(
            request,
            txn=fresh,
            user_code=user_code,
            error=message,
            error_field=field,
            status=status,
            retry_after_s=retry_after_s,
        )
        _set_form_cookie(request, page, fresh)
        return page

    cookie = request.cookies.get(_FORM_COOKIE, "")
    if not txn or not hmac.compare_digest(cookie, txn):
        return again("This page has expired or was opened in another browser.", "user_code", 400)
    # The address the connection came from (behind a reverse proxy: the proxy's, unless
    # uvicorn is told to trust its forwarded headers).
    address = request.client.host if request.client else "unknown"
    # No await from here to the count below: a refusal, the look-up and the count are one step.
    too_many = devices.wrong_codes.refusal(address, now)
    if too_many is not None:
        log.warning(
            "device verification refused: too many wrong user codes (%s limit; %d from the "
            "address, %d overall, in the window); retry after %ds",
            too_many.scope,
            too_many.from_address,
            too_many.overall,
            too_many.retry_after_s,
        )
        return again(too_many.message, "user_code", 429, retry_after_s=too_many.retry_after_s)
    try:
        pending = check_user_code_entry(devices.pending.by_user_code(user_code), now=now)
    except UserCodeNotAccepted as refused:
        devices.wrong_codes.wrong_code(address, now)
        log.info("device verification: a user code was not accepted (%s)", refused.why)
        return again(refused.message, "user_code", 400)
    already_used = "That code has already been used. Run the sign-in command again."
    if decision == "deny":
        if not devices.pending.decide(pending.device_code, subject=None, now=now):
            return again(already_used, "user_code", 400)
        return _page(
            request,
            done="You denied the sign-in. The command will stop; nothing was shared.",
            done_title="Sign-in denied",
        )
    if not username or not password:
        return again("Enter your username and password.", "username", 400)
    if not people.throttle.admit(username, now):
        return again("Too many attempts. Wait 5 minutes, then try again.", "username", 429)
    try:
        user = await people.passwords.check(username, password)
    except PasswordCheckBusy:
        return again("Too many people are signing in right now. Try again.", "username", 503)
    if user is None:
        return again("The username or password is not right.", "username", 401)
    people.throttle.succeeded(username)
    # A person who signed in here starts afresh; a code that merely matched does not (anyone
    # can start a device sign-in and type its code between guesses).
    devices.wrong_codes.signed_in(address, now)
    api = people.settings.person_apis.get(pending.resource)
    if api is None or not person_may_use(user, allowed_roles=api.roles):
        # Signed in, but this API is not theirs: the command is told access_denied.
        if not devices.pending.decide(pending.device_code, subject=None, now=now):
            return again(already_used, "user_code", 400)
        return _page(
            request,
            done="Your roles do not allow access to this service, so the sign-in was refused.",
            done_title="Sign-in refused",
            status=403,
        )
    if not devices.pending.decide(pending.device_code, subject=user.subject, now=now):
        return again(already_used, "user_code", 400)
    return _page(
        request,
        done="You are signed in. Go back to your terminal; you can close this page.",
        done_title="Sign-in approved",
    )
