"""Finding a child: the search form (GET /search) and its results (POST /search).

A search is a POST with the session's CSRF token: what a person types (names, a date of
birth, NHS number) is personal data and stays out of URLs, browser history and proxy logs.
The flow reads "authorise, validate, call the index, keep what this person may see, audit,
render": the person picks a purpose first; the typed identifiers go to the child index
(services/console/child_index.py), which answers with keys and scores only; the console keeps
the children with a notice in the person's own feed (domain/search.py) and shows only what
that feed shows; then a CHILD_SEARCHED access event (purpose, kinds of identifier, counts and
the pseudonymous keys of the children shown, never what was typed) is written BEFORE any
result is shown. If it cannot be written, no result is shown: an unaudited search shows
nothing. A search the index could not run is not audited: nothing was consulted.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.console.domain.access import child_searched_event
from services.console.domain.deadlines import UK
from services.console.domain.decisions import FieldProblem
from services.console.domain.search import (
    PURPOSE_LABELS,
    SearchQuery,
    parse_search,
    search_results,
)
from services.console.errors import ChildIndexUnavailable, SearchNotSpecific
from services.console.routes.access_log import requester_for, written
from services.console.routes.consulted import remember_search_results
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import csrf_ok
from services.console.routes.rendering import page, page_context, stale_form_page

__all__ = ["router"]

log = logging.getLogger("safehub.console")
router = APIRouter()

_FIELDS: tuple[str, ...] = (
    "purpose",
    "given_name",
    "family_name",
    "dob_day",
    "dob_month",
    "dob_year",
    "nhs_number",
    "la_child_id",
    "upn",
)


def _search_page(
    viewer: Viewer,
    *,
    values: dict[str, str] | None = None,
    errors: list[FieldProblem] | None = None,
    results: list[Any] | None = None,
    problem: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    context = page_context(
        viewer.request,
        viewer.person,
        nav="search",
        purposes=PURPOSE_LABELS,
        values=values or {},
        errors=errors or [],
        error_for={p.field: p.message for p in errors or []},
        results=results,
        links=[viewer.handle_for(r.child_key) for r in results or []],
        problem=problem,
    )
    return page(viewer.request, "search.html", context, status)


@router.get("/search", response_class=HTMLResponse)
async def search_form(viewer: SignedIn) -> Response:
    return _search_page(viewer)


@router.post("/search", response_class=HTMLResponse)
async def search(viewer: SignedIn) -> Response:
    request, runtime = viewer.request, viewer.runtime
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, viewer.person, 403)
    values = {name: str(form.get(name) or "") for name in _FIELDS}
    today = runtime.clock().astimezone(ZoneInfo(UK)).date()
    query, errors = parse_search(values, today=today)
    if query is None:
        return _search_page(viewer, values=values, errors=errors, status=400)
    try:
        matches = await runtime.child_search.search(
            query, limit=runtime.settings.search_result_limit
        )
    except SearchNotSpecific:
        problem = FieldProblem(
            "given_name", "Add an identifier: the child index needs more to search on"
        )
        return _search_page(viewer, values=values, errors=[problem], status=400)
    except ChildIndexUnavailable:
        return _search_page(
            viewer,
            values=values,
            problem="The child index is not available, so nothing was searched. Try again in "
            "a few minutes.",
            status=503,
        )
    results = search_results(matches, viewer.projection, runtime.aliases, agencies=runtime.agencies)
    if not await _audited(viewer, query, len(matches), [r.child_key for r in results]):
        return _search_page(
            viewer,
            values=values,
            problem="Your search could not be recorded in the audit log, so its results are "
            "not shown. Try again in a few minutes.",
            status=503,
        )
    # Opening a result is then a view for the search's purpose (routes/consulted.py).
    remember_search_results(viewer, [viewer.handle_for(r.child_key) for r in results])
    log.info(
        "child search",
        extra={"purpose": query.purpose.value, "matches": len(matches), "shown": len(results)},
    )
    return _search_page(viewer, values=values, results=results)


async def _audited(
    viewer: Viewer, query: SearchQuery, index_matches: int, shown: list[str]
) -> bool:
    runtime = viewer.runtime
    event = child_searched_event(
        access_id=runtime.new_id(),
        requester=requester_for(viewer.person, runtime.topology),
        query=query,
        index_matches=index_matches,
        children_shown=shown,
        at=runtime.clock(),
    )
    return await written(
        runtime.access_events,
        event,
        failure="CHILD_SEARCHED access event not written; no results shown",
    )
