"""The templates, and the context every page has: who is signed in, the session's CSRF token,
whether their feed has caught up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.console.domain.people import Person
from services.console.domain.urgency import out_of_hours
from services.console.domain.views.alerts import danger_alerts
from services.console.domain.views.queue_index import QueueIndex
from services.console.routes.break_glass_nav import break_glass_alerts_nav
from services.console.routes.dependencies import runtime_of
from services.console.routes.desks import desk_nav
from services.console.routes.withdrawn_nav import withdrawals_nav
from services.console.runtime import ConsoleRuntime
from services.console.sessions import session_control

__all__ = [
    "page",
    "page_context",
    "problem_page",
    "session_timing",
    "stale_form_page",
    "templates",
    "urgency_context",
]

templates = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))


def page_context(request: Request, person: Person | None, **extra: Any) -> dict[str, Any]:
    """`open_reviews` (the navigation's count of open 'same child?' reviews) is None unless
    the page asked the index for it (the queue and the review pages do)."""
    runtime = runtime_of(request)
    return {
        "person": person,
        "csrf_token": request.session.get("csrf", ""),
        "feed_ready": person is None
        or person.subscriber_id is None
        or runtime.feed_ready(person.subscriber_id),
        "may_review_linkage": person is not None
        and bool(set(person.roles) & runtime.linkage_roles),
        "open_reviews": None,
        "review_limit": runtime.settings.review_list_limit,
        **urgency_context(runtime, person),
        **desk_nav(runtime, person),
        **withdrawals_nav(runtime, person),
        **break_glass_alerts_nav(runtime, person),
        **session_timing(request, runtime, person),
        **extra,
    }


def session_timing(
    request: Request, runtime: ConsoleRuntime, person: Person | None
) -> dict[str, Any]:
    """What the page's idle warning needs (base.html puts it on <body>): how long the session
    has as of this request, and how long before the end to warn. None when signed out."""
    if person is None or "safehub.session" not in request.scope:
        return {"session_left_s": None, "session_warn_s": None}
    left = session_control(request.scope).seconds_left
    if left is None:
        return {"session_left_s": None, "session_warn_s": None}
    return {
        "session_left_s": int(left),
        "session_warn_s": int(runtime.settings.session_warning_s()),
    }


_ALERTS_SHOWN = 5
"""Alerts worded on a page; more are counted, and the queue lists them all first."""


def urgency_context(runtime: ConsoleRuntime, person: Person | None) -> dict[str, Any]:
    """For a person in the MASH (their feed's subscriber is inside it): the immediate-danger
    alerts they have not acknowledged, and, while the MASH is closed, who acts meanwhile.
    Every page shows both (base.html), so an alert cannot be missed by being elsewhere."""
    if person is None or person.subscriber_id is None:
        return {"danger_alerts": None, "out_of_hours": None}
    subscriber_id = person.subscriber_id
    if subscriber_id not in runtime.projections:
        return {"danger_alerts": None, "out_of_hours": None}
    if not runtime.topology.subscriber(subscriber_id).inside_mash:
        return {"danger_alerts": None, "out_of_hours": None}
    now = runtime.clock()
    projection = runtime.projections[subscriber_id]
    # A stored projection says which items are in danger from its index (a million items
    # are not read on every page); the in-memory one is looked through when it changes size.
    candidates = (
        projection.in_danger()
        if isinstance(projection, QueueIndex)
        else runtime.danger_candidates.of(projection)
    )
    alerts = danger_alerts(
        candidates,
        projection,
        acknowledged=runtime.acknowledgements.of(person.subject),
        now=now,
        timescales=runtime.timescales,
        limit=_ALERTS_SHOWN,
    )
    return {"danger_alerts": alerts, "out_of_hours": out_of_hours(now, runtime.urgency)}


def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


def problem_page(
    request: Request, person: Person | None, *, title: str, message: str, status: int
) -> HTMLResponse:
    context = page_context(request, person, title=title, message=message)
    return page(request, "problem.html", context, status)


def stale_form_page(request: Request, person: Person | None, status: int) -> HTMLResponse:
    """A form whose CSRF or decision-form token this session does not know."""
    return problem_page(
        request,
        person,
        title="This form has expired",
        message="The page was open for too long or in another session. Reload the page and "
        "try again.",
        status=status,
    )
