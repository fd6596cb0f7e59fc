"""The console's HTTP edge: server-rendered pages, a few HTML fragments and one event stream.

Pages (signed in unless stated; every form carries the session's CSRF token):
GET  /                          start page (signed out) or the queue
GET  /login, /auth/callback     OIDC sign-in (authorization code + PKCE)
POST /logout                    sign out (ends the server-side session)
GET  /queue?show=awaiting|all&page=N
GET  /items/{notice_id}         one notice as this person may see it; 403 + audit otherwise
GET  /children/{handle}         a child's chronology across agencies; 403 + audit otherwise
POST /children/{handle}/decisions   a triage decision, published as MASH_DECISION
Live (do not count as activity; see sessions.py):
GET  /live/events               Server-Sent Events: something changed in this person's feed
GET  /live/queue, /live/children/{handle}   the fragments a page re-fetches on an event
Ops: GET /healthz, /readyz

Routes decode the request, call the pure core (services/console/domain), render.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sse_starlette import EventSourceResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.domain.access import (
    RefusalReason,
    Requester,
    access_refused_event,
    well_formed_notice_id,
)
from services.console.domain.decisions import (
    DecisionInput,
    FieldProblem,
    mash_decision_notice,
    validate_decision,
)
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS, ROLE_LABELS, label
from services.console.domain.people import (
    Person,
    child_handle,
    person_from_claims,
    resolve_child_handle,
)
from services.console.domain.projection import Applied, Change, FeedProjection
from services.console.domain.views import (
    QueueFilter,
    child_view,
    item_view,
    queue_page,
    queue_row,
)
from services.console.errors import ChildNotIdentifiable, SignInFailed
from services.console.runtime import ConsoleRuntime, running_console
from services.console.sessions import SessionMiddleware, SessionStore, session_control
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings

__all__ = ["create_app"]

log = logging.getLogger("safehub.console")
_HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(_HERE / "templates"))
_MAX_OPEN_DECISION_FORMS = 50

# Pages hold personal data: never cached (a shared workstation's back button after sign-out
# must not show them), never framed, and no URL leaks onwards in a Referer.
_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        b"object-src 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class _SecurityHeaders:
    """Pure ASGI (not BaseHTTPMiddleware, which would buffer the event stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        path = str(scope.get("path", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in _SECURITY_HEADERS if k not in names]
                if not path.startswith("/static/") and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self._app(scope, receive, send_with_headers)


def _rt(request: Request) -> ConsoleRuntime:
    return cast(ConsoleRuntime, request.app.state.runtime)


def _person(request: Request) -> Person | None:
    data = request.session.get("person")
    return Person.from_session(data) if isinstance(data, dict) else None


def _projection(runtime: ConsoleRuntime, person: Person) -> FeedProjection:
    assert person.subscriber_id is not None  # sign-in refuses people without a feed
    return runtime.projections[person.subscriber_id]


def _handle_key(request: Request) -> bytes:
    return bytes.fromhex(str(request.session["handle_key"]))


def _context(request: Request, person: Person | None, **extra: Any) -> dict[str, Any]:
    runtime = _rt(request)
    return {
        "person": person,
        "csrf_token": request.session.get("csrf", ""),
        "feed_ready": person is None
        or person.subscriber_id is None
        or runtime.feed_ready(person.subscriber_id),
        **extra,
    }


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def _csrf_ok(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and bool(expected)
        and hmac.compare_digest(expected, submitted)
    )


async def _refuse(
    request: Request,
    person: Person,
    reason: RefusalReason,
    *,
    notice_id: str | None = None,
    fragment: bool = False,
    signed_in: bool = True,
) -> Response:
    """403, after the refusal is on the access topic (or its failure is logged loudly)."""
    runtime = _rt(request)
    subscriber = runtime.topology.subscriber(person.subscriber_id) if person.subscriber_id else None
    record = access_refused_event(
        access_id=runtime.new_id(),
        requester=Requester(person.subject, person.roles, subscriber),
        reason=reason,
        notice_id=well_formed_notice_id(notice_id) if notice_id else None,
        at=runtime.clock(),
    )
    try:
        await runtime.refusals.record(record)
    except Exception as error:
        # The refusal stands either way (nothing was shown); a missing audit record is an
        # operational fault someone must see.
        log.error(
            "ACCESS_REFUSED access event not written",
            extra={"reason": reason.value, "error": type(error).__name__},
        )
    log.info("access refused", extra={"reason": reason.value, "subject": person.subject})
    if fragment:
        return HTMLResponse("", status_code=403)
    return _page(
        request,
        "refused.html",
        _context(request, person if signed_in else None, reason=reason.value),
        status=403,
    )


router = APIRouter()


def _signed_out_redirect() -> RedirectResponse:
    return RedirectResponse("/", status_code=303)


# ---- signing in and out ------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def start(request: Request) -> Response:
    if _person(request) is not None:
        return RedirectResponse("/queue", status_code=303)
    return _page(request, "start.html", _context(request, None, problem=None))


@router.get("/login")
async def login(request: Request) -> Response:
    if _person(request) is not None:
        return RedirectResponse("/queue", status_code=303)
    runtime = _rt(request)
    return await runtime.signin.redirect(request, runtime.settings.redirect_uri)


@router.get("/auth/callback")
async def callback(request: Request) -> Response:
    runtime = _rt(request)
    try:
        claims = await runtime.signin.complete(request)
    except SignInFailed as failure:
        log.warning("sign-in failed", extra={"error": str(failure)})
        return _page(
            request,
            "start.html",
            _context(request, None, problem="Signing in did not complete. Please try again."),
            status=400,
        )
    person = person_from_claims(
        claims, runtime.topology, console_roles=runtime.settings.console_roles
    )
    session = request.session
    session.clear()  # drops the finished sign-in's state, nonce and verifier
    control = session_control(request.scope)
    if person.subscriber_id is None or person.subscriber_id not in runtime.projections:
        control.end = True
        return await _refuse(request, person, RefusalReason.NO_FEED_FOR_ROLE, signed_in=False)
    session["person"] = person.as_session()
    session["csrf"] = secrets.token_urlsafe(32)
    session["handle_key"] = secrets.token_hex(32)
    session["decision_forms"] = {}
    control.rotate = True  # a new session id at sign-in: no session fixation
    log.info("signed in", extra={"subject": person.subject, "feed": person.subscriber_id})
    return RedirectResponse("/queue", status_code=303)


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await request.form()
    person = _person(request)
    if person is not None and not _csrf_ok(request, form.get("csrf_token")):
        return _page(request, "problem.html", _context(request, person, **_STALE_FORM), 403)
    session_control(request.scope).end = True
    return RedirectResponse("/signed-out", status_code=303)


@router.get("/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request) -> Response:
    return _page(request, "signed_out.html", _context(request, None))


_STALE_FORM = {
    "title": "This form has expired",
    "message": "The page was open for too long or in another session. Reload the page and "
    "try again.",
}

# ---- the queue ------------------------------------------------------------------------


def _queue_context(request: Request, person: Person) -> dict[str, Any]:
    runtime = _rt(request)
    try:
        show = QueueFilter(request.query_params.get("show", QueueFilter.AWAITING.value))
    except ValueError:
        show = QueueFilter.AWAITING
    projection = _projection(runtime, person)
    size = runtime.settings.page_size
    try:
        wanted = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        wanted = 1
    first = queue_page(
        projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
        show=show,
        offset=(wanted - 1) * size,
        limit=size,
    )
    pages = max(1, math.ceil(first.total / size))
    page = min(wanted, pages)
    result = first
    if page != wanted:  # past the end (the queue shrank): show the last page instead
        result = queue_page(
            projection,
            now=runtime.clock(),
            timescales=runtime.timescales,
            agencies=runtime.agencies,
            show=show,
            offset=(page - 1) * size,
            limit=size,
        )
    key = _handle_key(request)
    return _context(
        request,
        person,
        rows=[(row, child_handle(key, row.linkage_key)) for row in result.rows],
        show=show.value,
        page=page,
        pages=pages,
        total=result.total,
        awaiting=result.awaiting,
        in_feed=len(projection),
        live_src=f"/live/queue?show={show.value}&page={page}",
        nav=show.value,
    )


@router.get("/queue", response_class=HTMLResponse)
async def queue(request: Request) -> Response:
    person = _person(request)
    if person is None:
        return _signed_out_redirect()
    return _page(request, "queue.html", _queue_context(request, person))


@router.get("/live/queue", response_class=HTMLResponse)
async def queue_fragment(request: Request) -> Response:
    person = _person(request)
    if person is None:
        return HTMLResponse("", status_code=401)
    return _page(request, "_queue_body.html", _queue_context(request, person))


# ---- one item ---------------------------------------------------------------------------


@router.get("/items/{notice_id}", response_class=HTMLResponse)
async def item(request: Request, notice_id: str) -> Response:
    person = _person(request)
    if person is None:
        return _signed_out_redirect()
    runtime = _rt(request)
    projection = _projection(runtime, person)
    entry = projection.get(notice_id)
    if entry is None:
        # Not in this person's feed, whether or not it exists anywhere: the same answer.
        return await _refuse(request, person, RefusalReason.NOT_IN_FEED, notice_id=notice_id)
    view = item_view(
        entry,
        projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
    )
    return _page(
        request,
        "item.html",
        _context(
            request,
            person,
            item=view,
            child=child_handle(_handle_key(request), entry.linkage_key),
            may_decide=_may_decide(runtime, person),
        ),
    )


# ---- one child --------------------------------------------------------------------------


def _child_key(request: Request, person: Person, handle: str) -> str | None:
    projection = _projection(_rt(request), person)
    return resolve_child_handle(_handle_key(request), handle, projection.linkage_keys())


def _may_decide(runtime: ConsoleRuntime, person: Person) -> bool:
    return bool(set(person.roles) & runtime.decision_roles)


def _open_decision_form(request: Request) -> str:
    """A single-use token for one rendering of the decision form: a resubmitted form (double
    click, back button) becomes the same notice id, never a second decision."""
    forms: dict[str, str] = request.session.setdefault("decision_forms", {})
    while len(forms) >= _MAX_OPEN_DECISION_FORMS:
        forms.pop(next(iter(forms)))
    token = secrets.token_urlsafe(16)
    forms[token] = "open"
    return token


def _child_context(
    request: Request,
    person: Person,
    handle: str,
    linkage_key: str,
    *,
    errors: list[FieldProblem] | None = None,
    values: Mapping[str, Any] | None = None,
    with_form: bool = True,
) -> dict[str, Any]:
    runtime = _rt(request)
    projection = _projection(runtime, person)
    view = child_view(
        projection.for_child(linkage_key),
        projection,
        timescales=runtime.timescales,
        agencies=runtime.agencies,
    )
    may_decide = _may_decide(runtime, person)
    return _context(
        request,
        person,
        child=view,
        handle=handle,
        may_decide=may_decide,
        decision_token=_open_decision_form(request)
        if with_form and may_decide and view.undecided
        else None,
        errors=errors or [],
        error_for={p.field: p.message for p in errors or []},
        values=values or {},
        flash=request.session.pop("flash", None) if with_form else None,
        rag_labels=RAG_LABELS,
        outcome_labels=MASH_OUTCOME_LABELS,
        early_help=runtime.early_help,
        live_src=f"/live/children/{handle}",
    )


@router.get("/children/{handle}", response_class=HTMLResponse)
async def child(request: Request, handle: str) -> Response:
    person = _person(request)
    if person is None:
        return _signed_out_redirect()
    linkage_key = _child_key(request, person, handle)
    if linkage_key is None:
        return await _refuse(request, person, RefusalReason.CHILD_LINK_NOT_VALID)
    return _page(request, "child.html", _child_context(request, person, handle, linkage_key))


@router.get("/live/children/{handle}", response_class=HTMLResponse)
async def chronology_fragment(request: Request, handle: str) -> Response:
    person = _person(request)
    if person is None:
        return HTMLResponse("", status_code=401)
    linkage_key = _child_key(request, person, handle)
    if linkage_key is None:
        return await _refuse(request, person, RefusalReason.CHILD_LINK_NOT_VALID, fragment=True)
    context = _child_context(request, person, handle, linkage_key, with_form=False)
    return _page(request, "_chronology.html", context)


@router.post("/children/{handle}/decisions", response_class=HTMLResponse)
async def decide(request: Request, handle: str) -> Response:
    person = _person(request)
    if person is None:
        return _signed_out_redirect()
    form = await request.form()
    if not _csrf_ok(request, form.get("csrf_token")):
        return _page(request, "problem.html", _context(request, person, **_STALE_FORM), 403)
    runtime = _rt(request)
    if not _may_decide(runtime, person):
        return await _refuse(request, person, RefusalReason.ROLE_MAY_NOT_DECIDE)
    linkage_key = _child_key(request, person, handle)
    if linkage_key is None:
        return await _refuse(request, person, RefusalReason.CHILD_LINK_NOT_VALID)
    forms: dict[str, str] = request.session.setdefault("decision_forms", {})
    token = str(form.get("decision_token", ""))
    state = forms.get(token)
    if state is None:
        return _page(request, "problem.html", _context(request, person, **_STALE_FORM), 409)
    if state.startswith("sent:"):
        request.session["flash"] = "This decision was already recorded."
        return RedirectResponse(f"/children/{handle}", status_code=303)
    projection = _projection(runtime, person)
    entries = projection.for_child(linkage_key)
    decidable = child_view(
        entries, projection, timescales=runtime.timescales, agencies=runtime.agencies
    ).undecided
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    checked = validate_decision(
        fields, decidable=[nid for nid, _ in decidable], early_help=runtime.early_help
    )
    if not isinstance(checked, DecisionInput):
        context = _child_context(
            request, person, handle, linkage_key, errors=checked, values=fields
        )
        return _page(request, "child.html", context, status=400)
    role = next((r for r in person.roles if r in runtime.decision_roles), person.roles[0])
    try:
        notice = mash_decision_notice(
            checked,
            child_entries=entries,
            origin=runtime.origin,
            decided_by_role=label(ROLE_LABELS, role),
            source_reference=f"MASH-DEC-{token}",
            now=runtime.clock(),
        )
    except ChildNotIdentifiable:
        problems = [
            FieldProblem(
                "rationale",
                "The child's name is not visible to you, so a decision cannot say who it is "
                "about. Ask a colleague who can see it.",
            )
        ]
        context = _child_context(
            request, person, handle, linkage_key, errors=problems, values=fields
        )
        return _page(request, "child.html", context, status=400)
    try:
        notice_id = await runtime.decisions.send(notice)
    except Exception as error:
        log.error("decision not sent", extra={"error": type(error).__name__})
        return _page(
            request,
            "problem.html",
            _context(
                request,
                person,
                title="The decision was not sent",
                message="The hub did not confirm the decision, so nothing was recorded. "
                "Go back and submit it again; it will not be recorded twice.",
            ),
            503,
        )
    forms[token] = f"sent:{notice_id}"
    log.info("decision sent", extra={"subject": person.subject, "notice_id": notice_id})
    routed = (
        f" Early help goes to {checked.early_help_organisation} only."
        if checked.early_help_organisation
        else ""
    )
    request.session["flash"] = (
        f"Decision recorded: {MASH_OUTCOME_LABELS[checked.outcome]}, RAG "
        f"{RAG_LABELS[checked.rag]}.{routed} It appears below once the hub has checked and "
        "shared it."
    )
    return RedirectResponse(f"/children/{handle}", status_code=303)


# ---- live updates -----------------------------------------------------------------------


@router.get("/live/events")
async def events(request: Request) -> Response:
    person = _person(request)
    if person is None or person.subscriber_id is None:
        return JSONResponse({"error": "not signed in"}, status_code=401)
    runtime = _rt(request)
    sid = session_control(request.scope).sid
    key = _handle_key(request)
    subscriber_id = person.subscriber_id
    ping_s = runtime.settings.sse_ping_s

    async def stream() -> AsyncIterator[dict[str, str]]:
        async with runtime.changes.listen(subscriber_id) as changes:
            yield {"event": "hello", "data": "{}"}
            while True:
                try:
                    change = await asyncio.wait_for(changes.get(), timeout=ping_s)
                except TimeoutError:
                    change = None
                if not runtime.sessions.alive(sid):
                    yield {"event": "signed-out", "data": "{}"}
                    return
                if change is None:
                    yield {"event": "ping", "data": "{}"}
                    continue
                yield {"event": "change", "data": _change_payload(runtime, person, key, change)}

    return EventSourceResponse(stream(), headers={"Cache-Control": "no-store"})


def _change_payload(runtime: ConsoleRuntime, person: Person, key: bytes, change: Change) -> str:
    """What the page needs to know: which child, and a line for screen readers. No names,
    no content: the page re-fetches what it shows through the normal, checked routes."""
    projection = _projection(runtime, person)
    entry = projection.get(change.notice_id)
    announce = ""
    if entry is not None and change.applied is Applied.NEW:
        row = queue_row(
            entry,
            projection,
            now=runtime.clock(),
            timescales=runtime.timescales,
            agencies=runtime.agencies,
        )
        announce = row.announcement
    return json.dumps(
        {
            "kind": change.applied.value,
            "child": child_handle(key, change.linkage_key),
            "announce": announce,
        }
    )


# ---- ops ------------------------------------------------------------------------------


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    runtime = _rt(request)
    feeds = {sid: runtime.feed_ready(sid) for sid in runtime.projections}
    body = {"ready": all(feeds.values()), "feeds": feeds}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)


# ---- the app ----------------------------------------------------------------------------


RuntimeFactory = Callable[[SessionStore], AbstractAsyncContextManager[ConsoleRuntime]]


def create_app(
    hub: HubSettings,
    settings: ConsoleSettings | None = None,
    *,
    runtime: RuntimeFactory | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """The console app. `runtime` builds the runtime in the lifespan (tests pass fakes);
    by default the real one: Kafka followers, producers and the OIDC client."""
    console_settings = settings or ConsoleSettings()
    sessions = SessionStore(console_settings.session_policy(), clock=clock)

    def default_runtime(store: SessionStore) -> AbstractAsyncContextManager[ConsoleRuntime]:
        return running_console(hub, console_settings, sessions=store)

    factory = runtime or default_runtime

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with factory(sessions) as built:
            app.state.runtime = built
            yield

    app = FastAPI(
        title="safehub MASH triage console",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    app.add_middleware(SessionMiddleware, store=sessions, secure=console_settings.secure_cookies)
    app.add_middleware(_SecurityHeaders)
    return app
