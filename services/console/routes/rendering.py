"""The templates, and the context every page has: who is signed in, the session's CSRF token,
whether their feed has caught up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.console.domain.people import Person
from services.console.routes.dependencies import runtime_of

__all__ = ["page", "page_context", "problem_page", "stale_form_page", "templates"]

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
        **extra,
    }


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
