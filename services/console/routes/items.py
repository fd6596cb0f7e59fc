"""One item's page: the notice as this person may see it, logged as a NOTICE_VIEWED
consultation before it is shown (503 if it cannot be); a withdrawn notice's tombstone
(routes/withdrawn.py); 403 + audit for anything outside their feed. Its emergency access
panel (routes/break_glass.py): the request form, or this person's own running grant, whose
request id the NOTICE_VIEWED event then carries (so nothing of it shows unless logged)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.break_glass import grant_for_viewer
from services.console.domain.consultations import notice_viewed_event
from services.console.domain.views import item_view
from services.console.routes.allocation import screening_context
from services.console.routes.break_glass import panel_for
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
    now = runtime.clock()
    # Emergency access: only this person's own grant, only while it runs (ended grants'
    # content is deleted as they are read).
    grants = (
        runtime.grants.for_notice(entry.subscriber_id, entry.notice_id, now=now)
        if runtime.grants is not None
        else []
    )
    grant = grant_for_viewer(grants, subject=viewer.person.subject, now=now)
    shown = grant if grant is not None and grant.entry is not None else None
    viewed = notice_viewed_event(
        access_id=runtime.new_id(),
        requester=requester_of(viewer),
        purpose=purpose_of(viewer),
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        source_agency=entry.source_agency,
        at=now,
        break_glass_request_id=None if shown is None else shown.request_id,
    )
    if not await record_consultation(viewer, viewed):
        return not_recorded(viewer)
    view = item_view(
        entry,
        projection,
        now=runtime.clock(),
        timescales=runtime.timescales,
        agencies=runtime.agencies,
        signers={a.principal: a.code for a in runtime.topology.agencies},
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
            emergency=panel_for(viewer, entry, grant, now=now),
            **screening_context(viewer, runtime.screening.states([notice_id])),
        ),
    )
