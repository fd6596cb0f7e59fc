"""The queue page and the fragment its live updates re-fetch.

GET /queue?show=awaiting|held|all&rag=&agency=&type=&age=&page=N[&after=C|&before=C]: the
filters are plain GET parameters (domain/views/queue.py QueueFilters), so the filter form works
without script and a filtered queue can be bookmarked; pagination links keep them. "Next page"
and "Previous page" carry the position of the page's last or first row (`after`, `before`:
keyset paging, queue_index.QueueCursor), so paging through a year of a large MASH costs the
same on page 10,000 as on page 2; `page` alone (a typed or bookmarked page number) is found by
counting, and `page` is also what "Page N of M" says.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import QueryParams

from services.console.domain.views import (
    AGE_BANDS,
    QueueCursor,
    QueueFilter,
    QueueFilters,
    QueuePage,
    queue_page,
)
from services.console.routes.dependencies import SignedIn, SignedInFragment, Viewer
from services.console.routes.rendering import page, page_context

__all__ = ["router"]

router = APIRouter()

_RAGS = frozenset({"RED", "AMBER", "GREEN", "NONE"})


def _queue_page(
    viewer: Viewer,
    show: QueueFilter,
    filters: QueueFilters,
    page_number: int,
    *,
    after: QueueCursor | None = None,
    before: QueueCursor | None = None,
) -> QueuePage:
    runtime = viewer.runtime
    size = runtime.settings.page_size
    return queue_page(
        viewer.projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
        show=show,
        filters=filters,
        offset=(page_number - 1) * size,
        limit=size,
        after=after,
        before=before,
    )


def _chosen(query: QueryParams, name: str, allowed: frozenset[str] | None = None) -> str | None:
    """A filter's value; blank (the form's 'Any') or not one of `allowed` is no filter."""
    value = query.get(name, "").strip()[:64]
    if not value or (allowed is not None and value not in allowed):
        return None
    return value


def _filters(query: QueryParams) -> QueueFilters:
    return QueueFilters(
        rag=_chosen(query, "rag", _RAGS),
        agency=_chosen(query, "agency"),
        notice_type=_chosen(query, "type"),
        age_band=_chosen(query, "age", frozenset(AGE_BANDS)),
    )


def _queue_context(viewer: Viewer, **extra: Any) -> dict[str, Any]:
    query = viewer.request.query_params
    try:
        show = QueueFilter(query.get("show", QueueFilter.AWAITING.value))
    except ValueError:
        show = QueueFilter.AWAITING
    filters = _filters(query)
    try:
        wanted = max(1, int(query.get("page", "1")))
    except ValueError:
        wanted = 1
    after = QueueCursor.decode(query.get("after"))
    before = None if after else QueueCursor.decode(query.get("before"))
    result = _queue_page(viewer, show, filters, wanted, after=after, before=before)
    pages = max(1, math.ceil(result.total / viewer.runtime.settings.page_size))
    page_number = min(wanted, pages)
    if page_number != wanted or ((after or before) and not result.rows):
        # Past the end (the queue shrank), or nothing left beside that position: the page
        # by its number instead.
        after = before = None
        result = _queue_page(viewer, show, filters, page_number)
    kept = {"show": show.value, **filters.query()}
    here: dict[str, str | int] = {"page": page_number}
    if after:
        here["after"] = after.encode()
    elif before:
        here["before"] = before.encode()
    return page_context(
        viewer.request,
        viewer.person,
        rows=[(row, viewer.handle_for(row.linkage_key)) for row in result.rows],
        show=show.value,
        filters=filters,
        options=result.options,
        page=page_number,
        pages=pages,
        total=result.total,
        awaiting=result.awaiting,
        overdue=result.overdue,
        held=result.held,
        in_feed=len(viewer.projection),
        live_src=f"/live/queue?{urlencode({**kept, **here})}",
        # Keyset links: the page after this one's last row, before its first.
        next_query=urlencode(
            {**kept, "page": page_number + 1, "after": result.last.encode()}
            if result.last
            else {**kept, "page": page_number + 1}
        ),
        previous_query=urlencode(
            {**kept, "page": page_number - 1, "before": result.first.encode()}
            if result.first and page_number > 2
            else {**kept, "page": page_number - 1}
        ),
        nav=show.value,
        # Who is screening or decided each row's contact (the screening ledger).
        screening=viewer.runtime.screening.states(row.notice_id for row in result.rows),
        **extra,
    )


@router.get("/queue", response_class=HTMLResponse)
async def queue(viewer: SignedIn) -> Response:
    # The main page says how many 'same child?' reviews wait, to those who may answer them.
    count = await viewer.runtime.open_reviews.get() if viewer.may_decide_linkage else None
    return page(viewer.request, "queue.html", _queue_context(viewer, open_reviews=count))


@router.get("/live/queue", response_class=HTMLResponse)
async def queue_fragment(viewer: SignedInFragment) -> Response:
    return page(viewer.request, "_queue_body.html", _queue_context(viewer))
