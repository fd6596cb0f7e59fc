"""Agency checks (domain/research.py): the MASH manager asks partner desks to research their
own records on a contact; the partner answers with findings and their own RAG; the manager
reads them on the child's page, before the decision form.

POST /children/{handle}/research        ask partner desks about one contact (decision makers)
GET  /research                          "Research requested of me": a partner desk's checks
GET  /research/{request_id}             one check, with the contact as the partner's own
                                        feed shows it, and the answer form
POST /research/{request_id}/findings    the partner's answer (once per check)

Every request and every answer is a ConsoleAccess event (RESEARCH_REQUESTED,
RESEARCH_ANSWERED: ids, codes, the partner's RAG and digests, never the text), and neither
stands unless its event was written: the ledger records it, the event is written, and if
that fails the ledger forgets it again and the person is told nothing was recorded (503).
Checks are never published to the bus: the MASH is a firewall.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import (
    RefusalReason,
    research_answered_event,
    research_requested_event,
)
from services.console.domain.consultations import notice_viewed_event
from services.console.domain.decisions import FieldProblem
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import NOTICE_TYPE_LABELS, RAG_LABELS, label
from services.console.domain.research import (
    MAX_FINDINGS,
    PARTNER_RAGS,
    AlreadyAnswered,
    Answered,
    FindingsInput,
    ResearchCheck,
    Researcher,
    ResearchRequest,
    checks_for_partner,
    research_due,
    validate_findings,
    validate_request,
)
from services.console.domain.views import child_view, item_view, triage_of
from services.console.domain.views.fields import agency_text, when_text
from services.console.domain.views.triage import decision_due_at
from services.console.routes.access_log import written
from services.console.routes.agency_checks import offers_for
from services.console.routes.allocation import undecided_in_ledger
from services.console.routes.children import child_context
from services.console.routes.consulted import (
    not_recorded,
    purpose_of,
    record_consultation,
    requester_of,
)
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.desks import partner_desk, partners_of
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, problem_page, stale_form_page

__all__ = ["router"]

log = logging.getLogger("safehub.console")
router = APIRouter()


# Asking -------------------------------------------------------------------------------


@router.post("/children/{handle}/research", response_class=HTMLResponse)
async def ask(viewer: SignedIn, handle: str) -> Response:
    request, person, runtime = viewer.request, viewer.person, viewer.runtime
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    if not viewer.may_decide:
        return await refuse(request, person, RefusalReason.ROLE_MAY_NOT_DECIDE)
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(request, person, RefusalReason.CHILD_LINK_NOT_VALID)
    handle = viewer.handle_for(linkage_key)
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    notice_id = (fields.get("notice_id") or [""])[0]
    # Only a contact still awaiting a decision, as the child's page offers it.
    entries = viewer.child_entries(linkage_key)
    view = child_view(
        entries, viewer.projection, timescales=runtime.timescales, agencies=runtime.agencies
    )
    states = runtime.screening.states(e.notice_id for e in entries)
    undecided = dict(undecided_in_ledger(view.undecided, states))
    entry = viewer.projection.get(notice_id) if notice_id in undecided else None
    if entry is None:
        return problem_page(
            request,
            person,
            title="No checks asked",
            message="That contact is not awaiting a decision on this child's page (it may "
            "have been decided meanwhile), so no agency checks were asked. Go back and reload "
            "the child's page.",
            status=409,
        )
    asked = [c.request.partner for c in runtime.research.for_notices([notice_id])]
    checked = validate_request(fields, offers=offers_for(viewer, notice_id, asked))
    if not isinstance(checked, tuple):
        context = child_context(
            viewer,
            linkage_key,
            research_errors={notice_id: checked},
            research_values={
                notice_id: {
                    "partner": fields.get("partner", []),
                    "question": (fields.get("question") or [""])[0],
                }
            },
        )
        return page(request, "child.html", context, status=400)
    partners, question = checked
    now = runtime.clock()
    triage = triage_of(entry, viewer.projection, runtime.timescales)
    due_by = research_due(
        decision_due=decision_due_at(entry, triage, runtime.timescales),
        requested_at=now,
        fallback=runtime.timescales.calendar.working_day,
    )
    me = Researcher(person.subject, person.name)
    made = runtime.research.ask(
        [
            ResearchRequest(
                request_id=runtime.new_id(),
                notice_id=notice_id,
                child_key=entry.linkage_key,
                partner=partner,
                requested_by=me,
                requested_at=now,
                due_by=due_by,
                question=question,
            )
            for partner in partners
        ]
    )
    requester = requester_of(viewer)
    for made_request in made:
        event = research_requested_event(
            access_id=runtime.new_id(), requester=requester, request=made_request, at=now
        )
        if not await _audited(viewer, event, "RESEARCH_REQUESTED"):
            runtime.research.withdraw_requests([r.request_id for r in made])
            return _not_audited(viewer, "Your request for agency checks")
    names = {p.subscriber_id: p.name for p in partners_of(runtime)}
    asked_now = ", ".join(names.get(r.partner, r.partner) for r in made) or "nobody new"
    request.session["flash"] = f"Agency checks requested of: {asked_now}."
    log.info("agency checks requested", extra={"notice_id": notice_id, "asked": len(made)})
    return RedirectResponse(f"/children/{handle}#research-title", status_code=303)


async def _audited(viewer: Viewer, event: Mapping[str, Any], kind: str) -> bool:
    return await written(
        viewer.runtime.access_events,
        event,
        failure=f"{kind} access event not written; not recorded",
    )


def _not_audited(viewer: Viewer, what: str) -> Response:
    return problem_page(
        viewer.request,
        viewer.person,
        title="Not recorded",
        message=f"{what} could not be written to the audit log, so it was not recorded. "
        "Try again in a few minutes.",
        status=503,
    )


# A partner's desk ---------------------------------------------------------------------


def _row(viewer: Viewer, check: ResearchCheck) -> dict[str, Any]:
    """A check as the partner's list shows it: the contact from their own feed only."""
    runtime, asked = viewer.runtime, check.request
    entry = viewer.projection.get(asked.notice_id)
    now = runtime.clock()
    return {
        "check": check,
        "state": check.state(now).value,
        "state_text": check.state_text(now),
        "child_name": (entry.child_name if entry else None) or "Name not shared with you",
        "contact": "Not in your feed"
        if entry is None
        else f"{label(NOTICE_TYPE_LABELS, entry.notice_type)} from "
        f"{agency_text(entry.source_agency, runtime.agencies)}",
        "requested_text": f"{asked.requested_by.name}, {when_text(asked.requested_at)}",
    }


@router.get("/research", response_class=HTMLResponse)
async def research_list(viewer: SignedIn) -> Response:
    runtime = viewer.runtime
    desk = partner_desk(runtime, viewer.person)
    rows: list[dict[str, Any]] = []
    if desk is not None:
        checks = checks_for_partner(
            runtime.research.for_partner(desk.subscriber_id),
            desk.subscriber_id,
            now=runtime.clock(),
        )
        rows = [_row(viewer, c) for c in checks]
    context = page_context(
        viewer.request,
        viewer.person,
        nav="research",
        desk=desk,
        open_rows=[r for r in rows if r["state"] != "answered"],
        answered_rows=[r for r in rows if r["state"] == "answered"],
        overdue=sum(1 for r in rows if r["state"] == "overdue"),
        flash=viewer.request.session.pop("flash", None),
    )
    return page(viewer.request, "research.html", context)


async def _own_check(viewer: Viewer, request_id: str) -> tuple[ResearchCheck, FeedEntry] | Response:
    """The check, if it is addressed to this person's desk and their feed holds its
    contact; otherwise the same refusal whether or not it exists."""
    check = viewer.runtime.research.get(request_id)
    desk = partner_desk(viewer.runtime, viewer.person)
    entry = None
    if check is not None and desk is not None and check.request.partner == desk.subscriber_id:
        entry = viewer.projection.get(check.request.notice_id)
    if check is None or entry is None:
        return await refuse(viewer.request, viewer.person, RefusalReason.NOT_IN_FEED)
    return check, entry


def _check_page(
    viewer: Viewer,
    check: ResearchCheck,
    entry: FeedEntry,
    *,
    errors: list[FieldProblem] | None = None,
    values: Mapping[str, str] | None = None,
    lost: str | None = None,
    status: int = 200,
) -> Response:
    runtime = viewer.runtime
    now = runtime.clock()
    view = item_view(
        entry, viewer.projection, now=now, timescales=runtime.timescales, agencies=runtime.agencies
    )
    context = page_context(
        viewer.request,
        viewer.person,
        nav="research",
        check=check,
        state=check.state(now).value,
        state_text=check.state_text(now),
        item=view,
        child=viewer.handle_for(entry.linkage_key),
        errors=errors or [],
        error_for={p.field: p.message for p in errors or []},
        values=values or {},
        lost=lost,
        rags=PARTNER_RAGS,
        rag_labels=RAG_LABELS,
        max_findings=MAX_FINDINGS,
    )
    return page(viewer.request, "research_check.html", context, status)


@router.get("/research/{request_id}", response_class=HTMLResponse)
async def research_check(viewer: SignedIn, request_id: str) -> Response:
    found = await _own_check(viewer, request_id)
    if isinstance(found, Response):
        return found
    check, entry = found
    # The page shows the contact as the partner's feed holds it: a consultation (s62).
    viewed = notice_viewed_event(
        access_id=viewer.runtime.new_id(),
        requester=requester_of(viewer),
        purpose=purpose_of(viewer),
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        source_agency=entry.source_agency,
        at=viewer.runtime.clock(),
    )
    if not await record_consultation(viewer, viewed):
        return not_recorded(viewer)
    return _check_page(viewer, check, entry)


@router.post("/research/{request_id}/findings", response_class=HTMLResponse)
async def answer(viewer: SignedIn, request_id: str) -> Response:
    request, person, runtime = viewer.request, viewer.person, viewer.runtime
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    found = await _own_check(viewer, request_id)
    if isinstance(found, Response):
        return found
    check, entry = found
    fields = {name: [str(form.get(name) or "")] for name in ("held", "findings", "partner_rag")}
    values = {name: v[0] for name, v in fields.items()}
    checked = validate_findings(fields)
    if not isinstance(checked, FindingsInput):
        return _check_page(viewer, check, entry, errors=checked, values=values, status=400)
    now = runtime.clock()
    me = Researcher(person.subject, person.name)
    outcome = runtime.research.answer(
        request_id, checked, subscriber_id=person.subscriber_id, answerer=me, at=now
    )
    if isinstance(outcome, AlreadyAnswered):
        current = runtime.research.get(request_id) or check
        return _check_page(viewer, current, entry, lost=outcome.message(), status=409)
    if not isinstance(outcome, Answered):
        return await refuse(request, person, RefusalReason.NOT_IN_FEED)
    findings = outcome.check.findings
    assert findings is not None
    event = research_answered_event(
        access_id=runtime.new_id(),
        requester=requester_of(viewer),
        request=check.request,
        findings=findings,
        at=now,
    )
    if not await _audited(viewer, event, "RESEARCH_ANSWERED"):
        runtime.research.withdraw_answer(request_id, answered_at=now, subject=person.subject)
        return _not_audited(viewer, "Your findings")
    request.session["flash"] = (
        "Findings recorded and shown to the MASH manager. They stay inside the MASH."
    )
    log.info("agency check answered", extra={"subject": person.subject})
    return RedirectResponse("/research", status_code=303)
