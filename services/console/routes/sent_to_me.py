"""GET /sent-to-me: what a person outside the MASH (the local authority's social worker) is
asked to act on: the MASH decisions routed to them and the return interviews due
(domain/views/sent_to_me.py). Only what their own feed holds, as it holds it."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.console.domain.feed import FeedEntry
from services.console.domain.views import QueueFilter, QueueFilters, queue_page
from services.console.domain.views.sent_to_me import sent_to_me
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.rendering import page, page_context

__all__ = ["router"]

router = APIRouter()

_LISTED = ("MASH_DECISION", "MISSING_EPISODE", "VCS_UPDATE")
_PER_TYPE = 200
"""The most recent items of each type read for the page (the queue index pages them)."""


def _recent(viewer: Viewer, notice_type: str) -> list[FeedEntry]:
    runtime, projection = viewer.runtime, viewer.projection
    found = queue_page(
        projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
        show=QueueFilter.ALL,
        filters=QueueFilters(notice_type=notice_type),
        limit=_PER_TYPE,
    )
    entries = (projection.get(row.notice_id) for row in found.rows)
    return [e for e in entries if e is not None]


@router.get("/sent-to-me", response_class=HTMLResponse)
async def sent(viewer: SignedIn) -> Response:
    runtime = viewer.runtime
    entries = [e for notice_type in _LISTED for e in _recent(viewer, notice_type)]
    view = sent_to_me(entries, now=runtime.clock(), timescales=runtime.timescales)
    links = {e.linkage_key: viewer.handle_for(e.linkage_key) for e in entries}
    context = page_context(viewer.request, viewer.person, nav="sent", sent=view, child_links=links)
    return page(viewer.request, "sent_to_me.html", context)
