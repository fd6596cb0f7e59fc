"""The console's HTTP edge, wired in one place: the page routers, the static files, sessions
and security headers around them, and the runtime built in the lifespan.

Pages (signed in unless stated; every form carries the session's CSRF token):
GET  /                          start page (signed out) or the queue
GET  /login, /auth/callback     OIDC sign-in (authorization code + PKCE)
POST /logout                    sign out (ends the server-side session)
GET  /queue?show=awaiting|held|all&rag=&agency=&type=&age=&page=N
POST /alerts/{notice_id}/acknowledge   "I have seen this" on an immediate-danger alert
GET  /items/{notice_id}         one notice as this person may see it; 403 + audit otherwise
GET  /children/{handle}         a child's chronology across agencies (every key the child index
                                merged into the child); 403 + audit otherwise. `handle`: the
                                child's stable link, the same for everyone (domain/links.py)
POST /children/{handle}/decisions   a triage decision, recorded once per contact (the
                                screening ledger), then published as MASH_DECISION
GET|POST /children/{handle}/decisions/{decision_id}/amend   amend a decision, with a reason
GET  /break-glass/alerts        "Emergency access to your agency's information": the owner's
                                alerts on the person's desk (issue 18)
POST /items/{notice_id}/allocation  take or release a contact ("being screened by <name>")
POST /children/{handle}/research    ask partner desks for agency checks on a contact
GET  /research                  "Research requested of me": a partner desk's checks (its landing)
GET  /research/{request_id}     one check, the contact as the partner's feed shows it
POST /research/{request_id}/findings   the partner's findings and RAG (once per check)
GET  /sent-to-me                decisions sent to me, return interviews due (social worker)
GET  /governance                information governance: the IG officer's landing (no feed, no
                                notice content; the sharing arrangements and their own tools)
POST /session/keepalive         activity: "Stay signed in" and typing (CSRF-checked)
404, 405                        a page in the console's style (routes/not_found.py)
GET|POST /search                find a child (purpose first; through the child index; only
                                children in the person's feed; audited as CHILD_SEARCHED)
GET  /reviews?show=open|decided "same child?": the child index's review queue, most likely first
GET  /reviews/{review_id}       one review: both children's records side by side
POST /reviews/{review_id}/decision  same child / not the same child + rationale, sent to the
                                index as this person, audited as LINKAGE_DECIDED
                                (the review pages: MASH decision makers and the MASH manager
                                only; anyone else 403 + audit)
Live (do not count as activity; see sessions.py):
GET  /live/events               Server-Sent Events: something changed in this person's feed
GET  /live/queue, /live/children/{handle}   the fragments a page re-fetches on an event
GET  /live/alerts               the immediate-danger alerts every page shows
GET  /live/session              how long the session has left (the idle warning asks first)
Ops: GET /healthz, /readyz
Erasure job (bearer token, scope children:erase; routes/erasure.py, issue 18):
POST /v1/children/erasures, GET /v1/children/erasures/{key}

Routes (services/console/routes, one module per page group) decode the request, call the
pure core (services/console/domain), render.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console.routes import (
    alerts,
    allocation,
    break_glass,
    children,
    decisions,
    governance,
    items,
    live,
    ops,
    queue,
    research,
    reviews,
    search,
    sent_to_me,
    session,
    signin,
    withdrawn,
)
from services.console.routes.dependencies import NoFeed, NotSignedIn, not_signed_in_response
from services.console.routes.erasure import install_erasure
from services.console.routes.governance import no_feed_response
from services.console.routes.not_found import http_error_page
from services.console.runtime import ConsoleRuntime, running_console
from services.console.security_headers import SecurityHeaders
from services.console.sessions import SessionMiddleware, SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings

__all__ = ["create_app"]

_HERE = Path(__file__).parent
_ROUTERS = (
    signin,
    queue,
    items,
    break_glass,
    withdrawn,
    children,
    decisions,
    allocation,
    reviews,
    alerts,
    search,
    research,
    sent_to_me,
    governance,
    session,
    live,
    ops,
)

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
    for module in _ROUTERS:
        app.include_router(module.router)
    install_erasure(app)  # the erasure job's JSON routes (token first, then the body)
    app.add_exception_handler(NotSignedIn, not_signed_in_response)
    app.add_exception_handler(NoFeed, no_feed_response)
    app.add_exception_handler(StarletteHTTPException, http_error_page)  # 404 and 405 pages
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    app.add_middleware(SessionMiddleware, store=sessions, secure=console_settings.secure_cookies)
    app.add_middleware(SecurityHeaders)
    return app
