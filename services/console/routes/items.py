"""One item's page: the notice as this person may see it, logged as a NOTICE_VIEWED
consultation before it is shown (503 if it cannot be); a withdrawn notice's tombstone
(routes/withdrawn.py); 403 + audit for anything outside their feed."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.consultations import notice_viewed_event
from services.console.domain.views import item_view
from services.console.routes.allocation import screening_context
from services.console.routes.consulted import (
    not_recorded,
    purpose_of,
    record_consultation,
    requester_of,
)
from services.console.routes.dependencies import SignedIn
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context
from services.console.routes.withdrawn import withdrawn_page

__all__ = ["router"]

router = APIRouter()


@router.get("/items/{notice_id}", response_class=HTMLResponse)
async def item(viewer: SignedIn, notice_id: str) -> Response:
    runtime, projection = viewer.runtime, viewer.projection
    entry = projection.get(notice_id)
    if entry is None and (withdrawal := projection.withdrawal(notice_id)) is not None:
        # Withdrawn by its agency: the tombstone, nothing of the notice (none is held).
        return withdrawn_page(viewer, withdrawal)
    if entry is None:
        # Not in this person's feed, whether or not it exists anywhere: the same answer.
        return await refuse(
            viewer.request, viewer.person, RefusalReason.NOT_IN_FEED, notice_id=notice_id
        )
    viewed = notice_viewed_event(
        access_id=runtime.new_id(),
        requester=requester_of(viewer),
        purpose=purpose_of(viewer),
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        source_agency=entry.source_agency,
        at=runtime.clock(),
    )
    if not await record_consultation(viewer, viewed):
        return not_recorded(viewer)
    view = item_view(
        entry,
        projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
    )
    return page(
        viewer.request,
        "item.html",
        page_context(
            viewer.request,
            viewer.person,
            item=view,
            child=viewer.handle_for(entry.linkage_key),
            may_decide=viewer.may_decide,
            flash=viewer.request.session.pop("flash", None),
            **screening_context(viewer, runtime.screening.states([notice_id])),
        ),
    )
