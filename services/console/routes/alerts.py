"""Immediate-danger alerts (domain/views/alerts.py), shown on every page by base.html: a
person acknowledges one, and the fragment a page re-fetches when its feed changes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.consultations import danger_acknowledged_event
from services.console.routes.consulted import (
    not_recorded,
    purpose_of,
    record_consultation,
    requester_of,
)
from services.console.routes.dependencies import SignedIn, SignedInFragment
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, stale_form_page

__all__ = ["router"]

router = APIRouter()


def _same_site_path(value: object) -> str:
    """Where to go back to: a path on this console only (never another site)."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/queue"


@router.post("/alerts/{notice_id}/acknowledge")
async def acknowledge(viewer: SignedIn, notice_id: str) -> Response:
    form = await viewer.request.form()
    if not csrf_ok(viewer.request, form.get("csrf_token")):
        return stale_form_page(viewer.request, viewer.person, 403)
    entry = viewer.projection.get(notice_id)
    if entry is None:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.NOT_IN_FEED, notice_id=notice_id
        )
    runtime = viewer.runtime
    # Logged before it is kept: an acknowledgement nobody can trace is not one.
    acknowledged = danger_acknowledged_event(
        access_id=runtime.new_id(),
        requester=requester_of(viewer),
        purpose=purpose_of(viewer),
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        source_agency=entry.source_agency,
        at=runtime.clock(),
    )
    if not await record_consultation(viewer, acknowledged):
        return not_recorded(viewer)
    runtime.acknowledgements.acknowledge(viewer.person.subject, notice_id, at=runtime.clock())
    return RedirectResponse(_same_site_path(form.get("return_to")), status_code=303)


@router.get("/live/alerts", response_class=HTMLResponse)
async def alerts_fragment(viewer: SignedInFragment) -> Response:
    context = page_context(viewer.request, viewer.person)
    context["return_to"] = _same_site_path(viewer.request.query_params.get("return_to"))
    return page(viewer.request, "_alerts.html", context)
