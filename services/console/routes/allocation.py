"""Allocation: a MASH decision maker takes a contact ("being screened by <name>") and releases
it; a manager (settings.reassign_roles) may take it over from a colleague or release theirs.
Everyone who sees the contact sees who is screening it and, once decided, who decided it
(the queue, the contact's page, the child's page), from the screening ledger.

A manager may also give a contact to a named colleague (a decision maker who has signed in
to this console: colleagues.py), shown as "being screened by <name>, given to them by <manager>".

POST /items/{notice_id}/allocation   action=take|release|assign (to=<colleague's subject>),
                                     back=<the page to return to>
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.projection import Applied, Change
from services.console.domain.screening import (
    Allocation,
    AllocationRefused,
    ContactState,
    Screener,
)
from services.console.domain.views import Status, triage_of
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import problem_page, stale_form_page

__all__ = [
    "may_reassign",
    "router",
    "screener_of",
    "screening_context",
    "undecided_in_ledger",
]

router = APIRouter()

# Where a form may send the person back to: a contact's or a child's page, nothing else
# (a form field is not trusted to redirect anywhere).
_BACK = re.compile(r"/(items/[0-9a-f-]{36}|children/[A-Za-z0-9_-]{1,256})")


def screener_of(viewer: Viewer) -> Screener:
    return Screener(viewer.person.subject, viewer.person.name)


def may_reassign(viewer: Viewer) -> bool:
    return bool(set(viewer.person.roles) & set(viewer.runtime.settings.reassign_roles))


def undecided_in_ledger(
    undecided: Iterable[tuple[str, str]], screening: Mapping[str, ContactState]
) -> tuple[tuple[str, str], ...]:
    """The contacts still awaiting a decision once the ledger's decisions count too."""
    return tuple(
        (notice_id, text)
        for notice_id, text in undecided
        if (state := screening.get(notice_id)) is None or state.decision is None
    )


def screening_context(viewer: Viewer, screening: Mapping[str, ContactState]) -> dict[str, Any]:
    """What the templates need to show screening: the states, each contact's version (for
    the decision form), and what this person may do."""
    reassigns = may_reassign(viewer)
    return {
        "screening": screening,
        "versions": {notice_id: state.version for notice_id, state in screening.items()},
        "may_reassign": reassigns,
        "me": viewer.person.subject,
        # Whom a manager can give a contact to: decision makers who have signed in here.
        "colleagues": (
            viewer.runtime.colleagues.with_roles(viewer.runtime.decision_roles) if reassigns else []
        ),
    }


@router.post("/items/{notice_id}/allocation", response_class=HTMLResponse)
async def allocate(viewer: SignedIn, notice_id: str) -> Response:
    request, person, runtime = viewer.request, viewer.person, viewer.runtime
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    if not viewer.may_decide:
        return await refuse(request, person, RefusalReason.ROLE_MAY_NOT_DECIDE)
    entry = viewer.projection.get(notice_id)
    if entry is None:
        return await refuse(request, person, RefusalReason.NOT_IN_FEED, notice_id=notice_id)
    back = str(form.get("back", ""))
    if not _BACK.fullmatch(back):
        back = f"/items/{notice_id}"
    action = form.get("action")
    me = screener_of(viewer)
    ledger = runtime.screening
    if action == "take":
        if triage_of(entry, viewer.projection, runtime.timescales).status is not Status.AWAITING:
            message = "Only a contact awaiting a decision can be taken."
        else:
            taken = ledger.take(
                notice_id, screener=me, at=runtime.clock(), may_reassign=may_reassign(viewer)
            )
            message = (
                "You are screening this contact: colleagues see it as being screened by you."
                if isinstance(taken, Allocation)
                else _refused(viewer, notice_id, taken)
            )
    elif action == "assign":
        if triage_of(entry, viewer.projection, runtime.timescales).status is not Status.AWAITING:
            message = "Only a contact awaiting a decision can be given to a colleague."
        else:
            message = _assign(viewer, notice_id, str(form.get("to", "")))
    elif action == "release":
        refused = ledger.release(notice_id, screener=me, may_reassign=may_reassign(viewer))
        message = (
            "Released: nobody is screening this contact now."
            if refused is None
            else _refused(viewer, notice_id, refused)
        )
    else:
        return problem_page(
            request,
            person,
            title="Nothing was changed",
            message="The form did not say whether to take, give or release the contact.",
            status=400,
        )
    # Everyone's open pages show who is screening what.
    runtime.changes.publish_everyone(Change(Applied.UPDATED, notice_id, entry.linkage_key))
    request.session["flash"] = message
    return RedirectResponse(back, status_code=303)


def _assign(viewer: Viewer, notice_id: str, to_subject: str) -> str:
    runtime = viewer.runtime
    colleague = next(
        (
            c
            for c in runtime.colleagues.with_roles(runtime.decision_roles)
            if c.subject == to_subject
        ),
        None,
    )
    if colleague is None:
        return AllocationRefused.NOT_A_DECISION_MAKER.message(ContactState(notice_id))
    given = runtime.screening.assign(
        notice_id,
        to=colleague.screener,
        by=screener_of(viewer),
        at=runtime.clock(),
        may_reassign=may_reassign(viewer),
    )
    if isinstance(given, Allocation):
        return f"{given.text()}."
    return _refused(viewer, notice_id, given)


def _refused(viewer: Viewer, notice_id: str, refused: AllocationRefused) -> str:
    state = viewer.runtime.screening.states([notice_id]).get(notice_id) or ContactState(notice_id)
    return refused.message(state)
