"""Signing in (OIDC authorization code + PKCE, through `runtime.signin`) and out.

A page asked for while signed out comes back after signing in: the start page carries it as
`?next=` to /login, which keeps it in the server-side session beside the sign-in's state; the
callback sends the person there. Only a same-origin path is ever used
(domain/links.py `safe_return_path`, checked on the way in and again on the way out): no
open redirect."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.links import safe_return_path
from services.console.domain.people import person_from_claims
from services.console.errors import SignInFailed
from services.console.routes.dependencies import MaybePerson, Runtime, runtime_of
from services.console.routes.desks import landing_path
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, stale_form_page
from services.console.sessions import SIGNED_IN_KEY, session_control

__all__ = ["router"]

log = logging.getLogger("safehub.console")
router = APIRouter()


_RETURN_TO = "return_to"


def _login_link(back: str | None) -> str:
    return "/login" if back is None else f"/login?{urlencode({'next': back})}"


@router.get("/", response_class=HTMLResponse)
async def start(request: Request, person: MaybePerson) -> Response:
    back = safe_return_path(request.query_params.get("next"))
    if person is not None:
        return RedirectResponse(back or landing_path(runtime_of(request), person), status_code=303)
    context = page_context(request, None, problem=None, login_link=_login_link(back))
    return page(request, "start.html", context)


@router.get("/login")
async def login(request: Request, person: MaybePerson, runtime: Runtime) -> Response:
    back = safe_return_path(request.query_params.get("next"))
    if person is not None:
        return RedirectResponse(back or landing_path(runtime, person), status_code=303)
    if back is not None:
        # Kept on the server with the sign-in's own state; only a same-origin path.
        request.session[_RETURN_TO] = back
    else:
        request.session.pop(_RETURN_TO, None)
    return await runtime.signin.redirect(request, runtime.settings.redirect_uri)


@router.get("/auth/callback")
async def callback(request: Request, runtime: Runtime) -> Response:
    try:
        claims = await runtime.signin.complete(request)
    except SignInFailed as failure:
        log.warning("sign-in failed", extra={"error": str(failure)})
        return page(
            request,
            "start.html",
            page_context(request, None, problem="Signing in did not complete. Please try again."),
            status=400,
        )
    person = person_from_claims(
        claims, runtime.topology, console_roles=runtime.settings.console_roles
    )
    session = request.session
    back = safe_return_path(session.get(_RETURN_TO))  # checked again: it is about to be used
    session.clear()  # drops the finished sign-in's state, nonce and verifier
    control = session_control(request.scope)
    # The IG officer reads no feed but signs in to the information governance page
    # (routes/governance.py); any other role without a feed here is refused.
    oversight = person.subscriber_id is None and bool(
        set(person.roles) & set(runtime.settings.oversight_roles)
    )
    if not oversight and (
        person.subscriber_id is None or person.subscriber_id not in runtime.projections
    ):
        control.end = True
        return await refuse(request, person, RefusalReason.NO_FEED_FOR_ROLE, signed_in=False)
    session[SIGNED_IN_KEY] = person.as_session()
    session["csrf"] = secrets.token_urlsafe(32)
    session["decision_forms"] = {}
    control.rotate = True  # a new session id at sign-in: no session fixation
    runtime.colleagues.signed_in(person, at=runtime.clock())  # whom work can be given to
    log.info("signed in", extra={"subject": person.subject, "feed": person.subscriber_id})
    return RedirectResponse(back or landing_path(runtime, person), status_code=303)


@router.post("/logout")
async def logout(request: Request, person: MaybePerson) -> Response:
    form = await request.form()
    if person is not None and not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    session_control(request.scope).end = True
    return RedirectResponse("/signed-out", status_code=303)


@router.get("/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request, runtime: Runtime) -> Response:
    # `?reason=idle`: the page's idle warning ran out (console.js); says so, not a bare page.
    idle = request.query_params.get("reason") == "idle"
    minutes = int(runtime.settings.session_policy().idle.total_seconds() // 60)
    context = page_context(request, None, timed_out=idle, idle_minutes=minutes)
    return page(request, "signed_out.html", context)
