"""The queue page and the fragment its live updates re-fetch."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.console.domain.views import QueueFilter, QueuePage, queue_page
from services.console.routes.dependencies import SignedIn, SignedInFragment, Viewer
from services.console.routes.rendering import page, page_context

__all__ = ["router"]

router = APIRouter()


def _queue_page(viewer: Viewer, show: QueueFilter, page_number: int) -> QueuePage:
    runtime = viewer.runtime
    size = runtime.settings.page_size
    return queue_page(
        viewer.projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
        show=show,
        offset=(page_number - 1) * size,
        limit=size,
    )


def _queue_context(viewer: Viewer, **extra: Any) -> dict[str, Any]:
    query = viewer.request.query_params
    try:
        show = QueueFilter(query.get("show", QueueFilter.AWAITING.value))
    except ValueError:
        show = QueueFilter.AWAITING
    try:
        wanted = max(1, int(query.get("page", "1")))
    except ValueError:
        wanted = 1
    result = _queue_page(viewer, show, wanted)
    pages = max(1, math.ceil(result.total / viewer.runtime.settings.page_size))
    page_number = min(wanted, pages)
    if page_number != wanted:  # past the end (the queue shrank): show the last page instead
        result = _queue_page(viewer, show, page_number)
    return page_context(
        viewer.request,
        viewer.person,
        rows=[(row, viewer.handle_for(row.linkage_key)) for row in result.rows],
        show=show.value,
        page=page_number,
        pages=pages,
        total=result.total,
        awaiting=result.awaiting,
        in_feed=len(viewer.projection),
        live_src=f"/live/queue?show={show.value}&page={page_number}",
        nav=show.value,
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
