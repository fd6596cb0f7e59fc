"""Withdrawn notices (issue 18): the tombstone a notice's page answers with once its agency
has withdrawn it, and the desk's acknowledgement ("Acknowledge"), audited as a ConsoleAccess
RETRACTION_ACKNOWLEDGED event before it stands (503 and nothing kept if it cannot be written).
The first acknowledgement of a desk stands; a second is answered 409 with the first.
GET /withdrawn lists the desk's withdrawals nobody has acknowledged yet ("Withdrawn, to
acknowledge"), each acknowledged from the list itself."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.consultations import retraction_acknowledged_event
from services.console.domain.views.withdrawn import withdrawal_view
from services.console.domain.withdrawals import (
    Acknowledgement,
    Withdrawal,
    retraction_acknowledgement_access_id,
)
from services.console.routes.consulted import purpose_of, record_consultation, requester_of
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, problem_page, stale_form_page
from services.console.routes.withdrawn_nav import withdrawals_to_acknowledge

__all__ = ["router", "withdrawn_page"]

router = APIRouter()

_BACK_TO_LIST = "list"
"""The acknowledge form's `back` when it was sent from the list: the list again, not the
notice's page."""


def withdrawn_page(
    viewer: Viewer, withdrawal: Withdrawal, *, status: int = 200, conflict: bool = False
) -> HTMLResponse:
    """The tombstone: who withdrew it and why, when, and who at this desk acknowledged it.
    Nothing of the notice: the console no longer holds any of it."""
    return page(
        viewer.request,
        "withdrawn.html",
        page_context(
            viewer.request,
            viewer.person,
            withdrawn=withdrawal_view(withdrawal),
            conflict=conflict,
            flash=viewer.request.session.pop("flash", None),
        ),
        status,
    )


@router.get("/withdrawn", response_class=HTMLResponse)
async def to_acknowledge(viewer: SignedIn) -> Response:
    """The desk's withdrawals nobody there has acknowledged, oldest first: tombstones only."""
    pending = withdrawals_to_acknowledge(viewer.runtime, viewer.person)
    context = page_context(
        viewer.request,
        viewer.person,
        nav="withdrawn",
        withdrawals=[withdrawal_view(w) for w in pending],
        back=_BACK_TO_LIST,
        flash=viewer.request.session.pop("flash", None),
    )
    return page(viewer.request, "withdrawn_list.html", context)


@router.post("/items/{notice_id}/withdrawal/acknowledge")
async def acknowledge(viewer: SignedIn, notice_id: str) -> Response:
    form = await viewer.request.form()
    if not csrf_ok(viewer.request, form.get("csrf_token")):
        return stale_form_page(viewer.request, viewer.person, 403)
    projection, runtime, person = viewer.projection, viewer.runtime, viewer.person
    withdrawal = projection.withdrawal(notice_id)
    if withdrawal is None:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.NOT_IN_FEED, notice_id=notice_id
        )
    if withdrawal.acknowledged is not None:
        return withdrawn_page(viewer, withdrawal, status=409, conflict=True)
    now = runtime.clock()
    # Logged before it stands: the agency's receipt must be in the audit log.
    event = retraction_acknowledged_event(
        access_id=retraction_acknowledgement_access_id(withdrawal.retraction_id, person.subject),
        requester=requester_of(viewer),
        purpose=purpose_of(viewer),
        retraction_id=withdrawal.retraction_id,
        notice_id=withdrawal.notice_id,
        linkage_key=withdrawal.linkage_key,
        source_agency=withdrawal.source_agency,
        at=now,
    )
    if not await record_consultation(viewer, event):
        return problem_page(
            viewer.request,
            person,
            title="Your acknowledgement was not recorded",
            message="An acknowledgement is written to the audit log before it is kept, and the "
            "audit log could not be reached, so nothing was recorded. Try again in a few "
            "minutes; if it keeps happening, tell the MASH's system administrator.",
            status=503,
        )
    kept = projection.acknowledge_withdrawal(
        notice_id,
        Acknowledgement(
            subject=person.subject,
            name=person.name,
            role=person.roles[0] if person.roles else "",
            at=now,
        ),
    )
    if kept is None:  # cannot happen: tombstones are never deleted
        return await refuse(
            viewer.request, viewer.person, RefusalReason.NOT_IN_FEED, notice_id=notice_id
        )
    if kept.acknowledged is not None and kept.acknowledged.subject != person.subject:
        # A colleague at the desk acknowledged it a moment earlier: theirs stands.
        return withdrawn_page(viewer, kept, status=409, conflict=True)
    viewer.request.session["flash"] = "Your acknowledgement is recorded."
    if form.get("back") == _BACK_TO_LIST:
        return RedirectResponse("/withdrawn", status_code=303)
    return RedirectResponse(f"/items/{notice_id}", status_code=303)
