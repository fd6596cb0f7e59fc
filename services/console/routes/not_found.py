"""404 and 405 as pages in the console's own style: what happened in plain words and where
to go next (the queue and search, or the start page), never a stack trace, a path echoed
back or anything about the console's insides. Registered in app.py for Starlette's
HTTPException; other statuses keep FastAPI's own answer.

A notice id or child link that the route knows how to read is not a 404: the route answers
it with the audited 403 (routes/items.py, routes/children.py), the same whether or not the
record exists, so this page never tells anyone that a record exists. It is only for
addresses no route serves.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from services.console.domain.people import Person
from services.console.routes.rendering import page, page_context
from services.console.sessions import SIGNED_IN_KEY

__all__ = ["http_error_page"]

_PAGES = frozenset({404, 405})
# Machine-facing paths keep a bare answer: a script or a stylesheet reads it, not a person.
_BARE = ("/live/", "/static/", "/session/", "/healthz", "/readyz")


async def http_error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code not in _PAGES or request.url.path.startswith(_BARE):
        return await http_exception_handler(request, error)
    data = request.session.get(SIGNED_IN_KEY) if "session" in request.scope else None
    person = Person.from_session(data) if isinstance(data, dict) else None
    context = page_context(request, person, status=error.status_code)
    response = page(request, "not_found.html", context, error.status_code)
    if error.headers:  # 405's Allow
        response.headers.update(error.headers)
    return response
