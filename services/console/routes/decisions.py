"""A triage decision, and an amendment of one: checked (CSRF, role, child, single-use form
token), validated, recorded in the screening ledger only if nobody decided the contacts since
the form was rendered, then made into a MASH_DECISION notice and published through the hub.

POST /children/{handle}/decisions                          a decision
GET  /children/{handle}/decisions/{decision_id}/amend      the amendment form
POST /children/{handle}/decisions/{decision_id}/amend      an amendment, with its reason

One decision per contact: the ledger (services/console/screening.py, the console's database,
a durable transaction) admits a decision only if every contact it covers is still at the
version the form was rendered at. The person who lost the race is told who decided and when
(409), and nothing is published for them. The notice's source reference is the form token,
so a resubmitted form is the same notice, never a second decision. An amendment names the
decision it amends and why; it goes through the hub like any decision (the gateway checks
and audits it) and says what it amends in its record (domain/decisions.py, AMENDMENT_MARK).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.console.domain.access import RefusalReason
from services.console.domain.consultations import decision_amended_event
from services.console.domain.decisions import (
    AmendmentOf,
    DecisionInput,
    FieldProblem,
    mash_decision_notice,
    validate_decision,
)
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS, ROLE_LABELS, label
from services.console.domain.projection import Applied, Change
from services.console.domain.screening import (
    AlreadyRecorded,
    LostRace,
    RecordedDecision,
    amendment_reason_problem,
    decided_since,
    parse_versions,
)
from services.console.domain.views import child_view
from services.console.errors import ChildNotIdentifiable
from services.console.routes.allocation import screener_of, screening_context
from services.console.routes.children import child_context
from services.console.routes.consulted import record_consultation, requester_of
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import (
    DecisionFormState,
    csrf_ok,
    decision_form_state,
    mark_decision_sent,
    open_decision_form,
)
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, problem_page, stale_form_page

__all__ = ["router"]

log = logging.getLogger("safehub.console")
router = APIRouter()

_NAME_NOT_VISIBLE = FieldProblem(
    "rationale",
    "The child's name is not visible to you, so a decision cannot say who it is "
    "about. Ask a colleague who can see it.",
)
AMEND_REASON_FIELD = "amend_reason"


@router.post("/children/{handle}/decisions", response_class=HTMLResponse)
async def decide(viewer: SignedIn, handle: str) -> Response:
    request, person = viewer.request, viewer.person
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    if not viewer.may_decide:
        return await refuse(request, person, RefusalReason.ROLE_MAY_NOT_DECIDE)
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(request, person, RefusalReason.CHILD_LINK_NOT_VALID)
    token = str(form.get("decision_token", ""))
    state = decision_form_state(request.session, token)
    if state is DecisionFormState.UNKNOWN:
        return stale_form_page(request, person, 409)
    handle = viewer.handle_for(linkage_key)  # the merged child's own page, whichever key
    if state is DecisionFormState.SENT:
        return _back_to_child(viewer, handle, "This decision was already recorded.")
    entries = viewer.child_entries(linkage_key)
    fields = _submitted_fields(form)
    rendered = parse_versions(fields.get("version", ()))
    # Told first who decided, before anything else about the form: the contacts the person
    # chose were decided by someone else while they were writing.
    chosen = [v.strip() for v in fields.get("related", ()) if v.strip()]
    ledger = viewer.runtime.screening
    lost = decided_since(chosen, current=ledger.states(chosen), rendered=rendered)
    if lost is not None and any(
        c.decision is None or c.decision.form_token != token for c in lost.contacts
    ):  # decided by another form (this form's own decision is sent again, below)
        return _lost_race(viewer, linkage_key, lost, fields)
    checked = _validated(viewer, entries, fields)
    if not isinstance(checked, DecisionInput):
        return _form_again(viewer, linkage_key, checked, fields)
    return await _record_and_send(viewer, linkage_key, token, checked, rendered, fields)


@router.get("/children/{handle}/decisions/{decision_id}/amend", response_class=HTMLResponse)
async def amend_form(viewer: SignedIn, handle: str, decision_id: str) -> Response:
    found = await _amendable(viewer, handle, decision_id)
    if isinstance(found, Response):
        return found
    linkage_key, original = found
    return page(viewer.request, "amend.html", _amend_context(viewer, linkage_key, original))


@router.post("/children/{handle}/decisions/{decision_id}/amend", response_class=HTMLResponse)
async def amend(viewer: SignedIn, handle: str, decision_id: str) -> Response:
    request, person = viewer.request, viewer.person
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    found = await _amendable(viewer, handle, decision_id)
    if isinstance(found, Response):
        return found
    linkage_key, original = found
    token = str(form.get("decision_token", ""))
    state = decision_form_state(request.session, token)
    if state is DecisionFormState.UNKNOWN:
        return stale_form_page(request, person, 409)
    if state is DecisionFormState.SENT:
        return _back_to_child(
            viewer, viewer.handle_for(linkage_key), "This amendment was already recorded."
        )
    fields = _submitted_fields(form)
    # The amendment covers what the decision covered, whatever the form says.
    fields["related"] = list(original.covers)
    rendered = parse_versions(fields.get("version", ()))
    checked = validate_decision(
        fields, decidable=original.covers, early_help=viewer.runtime.early_help
    )
    reason = (fields.get(AMEND_REASON_FIELD) or [""])[0].strip()
    reason_problem = amendment_reason_problem(reason)
    if reason_problem is not None or not isinstance(checked, DecisionInput):
        problems = [] if isinstance(checked, DecisionInput) else checked
        if reason_problem is not None:
            problems.insert(0, FieldProblem(AMEND_REASON_FIELD, reason_problem))
        context = _amend_context(viewer, linkage_key, original, errors=problems, values=fields)
        return page(request, "amend.html", context, status=400)
    amends = AmendmentOf(
        decision_id=original.decision_id,
        decided_by_name=original.decided_by.name,
        decided_at=original.decided_at,
        reason=reason,
    )
    return await _record_and_send(
        viewer, linkage_key, token, checked, rendered, fields, amends=amends
    )


async def _amendable(
    viewer: Viewer, handle: str, decision_id: str
) -> tuple[str, RecordedDecision] | Response:
    """The child and the recorded decision to amend, or the answer when there is none: only
    a decision maker, only a decision the ledger holds on one of this child's contacts."""
    request, person = viewer.request, viewer.person
    if not viewer.may_decide:
        return await refuse(request, person, RefusalReason.ROLE_MAY_NOT_DECIDE)
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(request, person, RefusalReason.CHILD_LINK_NOT_VALID)
    original = viewer.runtime.screening.decision(decision_id)
    contacts = {e.notice_id for e in viewer.child_entries(linkage_key)}
    if original is None or not set(original.covers) & contacts:
        return problem_page(
            request,
            person,
            title="No such decision",
            message="This child has no decision recorded in the console under that link.",
            status=404,
        )
    return linkage_key, original


def _amend_context(
    viewer: Viewer,
    linkage_key: str,
    original: RecordedDecision,
    *,
    errors: list[FieldProblem] | None = None,
    values: Mapping[str, Any] | None = None,
    lost_race: str | None = None,
) -> dict[str, Any]:
    runtime = viewer.runtime
    entries = {e.notice_id: e for e in viewer.child_entries(linkage_key)}
    screening = runtime.screening.states(original.covers)
    current = {s.decision.decision_id for s in screening.values() if s.decision}
    view = child_view(
        entries.values(),
        viewer.projection,
        timescales=runtime.timescales,
        agencies=runtime.agencies,
    )
    covered = [e for e in view.entries if e.notice_id in original.covers]
    # A form only for the decision that is still current: an amended decision says who
    # amended it, and the person amends that one instead.
    still_current = current == {original.decision_id}
    if not values:
        values = {"rag": [original.rag], "outcome": [original.outcome]}
    return page_context(
        viewer.request,
        viewer.person,
        handle=viewer.handle_for(linkage_key),
        child=view,
        original=original,
        covered=covered,
        current_decisions=[s.decision for s in screening.values() if s.decision],
        still_current=still_current,
        decision_token=open_decision_form(viewer.request.session) if still_current else None,
        errors=errors or [],
        error_for={p.field: p.message for p in errors or []},
        values=values,
        lost_race=lost_race,
        rag_labels=RAG_LABELS,
        outcome_labels=MASH_OUTCOME_LABELS,
        early_help=runtime.early_help,
        **screening_context(viewer, screening),
    )


def _submitted_fields(form: FormData) -> dict[str, list[str]]:
    """Every text field, repeated names kept in order (files are ignored)."""
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


def _validated(
    viewer: Viewer, entries: list[FeedEntry], fields: dict[str, list[str]]
) -> DecisionInput | list[FieldProblem]:
    """The decision, if it covers only contacts still awaiting one on this child's page."""
    runtime = viewer.runtime
    decidable = child_view(
        entries, viewer.projection, timescales=runtime.timescales, agencies=runtime.agencies
    ).undecided
    return validate_decision(
        fields, decidable=[nid for nid, _ in decidable], early_help=runtime.early_help
    )


def _deciding_role(viewer: Viewer) -> str:
    """The words for the role the person decides in: their first decision-making role."""
    roles, decision_roles = viewer.person.roles, viewer.runtime.decision_roles
    role = next((r for r in roles if r in decision_roles), roles[0])
    return label(ROLE_LABELS, role)


def _form_again(
    viewer: Viewer,
    linkage_key: str,
    problems: list[FieldProblem],
    fields: dict[str, list[str]],
) -> Response:
    context = child_context(viewer, linkage_key, errors=problems, values=fields)
    return page(viewer.request, "child.html", context, status=400)


def _lost_race(
    viewer: Viewer, linkage_key: str, lost: LostRace, fields: dict[str, list[str]]
) -> Response:
    """409: someone decided first. The page says who and when; what was typed stays in the
    form for any contact still undecided; nothing was recorded or published."""
    log.info("decision refused: decided by someone else first")
    context = child_context(viewer, linkage_key, values=fields, lost_race=lost.message())
    return page(viewer.request, "child.html", context, status=409)


def _back_to_child(viewer: Viewer, handle: str, flash: str) -> Response:
    viewer.request.session["flash"] = flash
    return RedirectResponse(f"/children/{handle}", status_code=303)


async def _record_and_send(
    viewer: Viewer,
    linkage_key: str,
    token: str,
    checked: DecisionInput,
    rendered: Mapping[str, int],
    fields: dict[str, list[str]],
    *,
    amends: AmendmentOf | None = None,
) -> Response:
    """Record the decision in the ledger (only if nobody decided since), then publish it."""
    runtime = viewer.runtime
    now = runtime.clock()
    role = _deciding_role(viewer)
    try:
        notice = mash_decision_notice(
            checked,
            child_entries=viewer.child_entries(linkage_key),
            linkage_key=linkage_key,
            origin=runtime.origin,
            decided_by_role=role,
            decided_by_name=viewer.person.name,
            source_reference=f"MASH-DEC-{token}",
            now=now,
            amends=amends,
        )
    except ChildNotIdentifiable:
        if amends is not None:
            original = runtime.screening.decision(amends.decision_id)
            assert original is not None  # checked by _amendable
            context = _amend_context(
                viewer, linkage_key, original, errors=[_NAME_NOT_VISIBLE], values=fields
            )
            return page(viewer.request, "amend.html", context, status=400)
        return _form_again(viewer, linkage_key, [_NAME_NOT_VISIBLE], fields)
    proposed = RecordedDecision(
        decision_id=str(notice["notice_id"]),
        form_token=token,
        decided_by=screener_of(viewer),
        decided_by_role=role,
        decided_at=now,
        outcome=checked.outcome,
        rag=checked.rag,
        covers=checked.related_notice_ids,
        amends=None if amends is None else amends.decision_id,
        amend_reason=None if amends is None else amends.reason,
        child_key=linkage_key,
    )
    recorded = runtime.screening.record(proposed, rendered=rendered)
    if isinstance(recorded, LostRace):
        if amends is None:
            return _lost_race(viewer, linkage_key, recorded, fields)
        original = runtime.screening.decision(amends.decision_id)
        assert original is not None
        context = _amend_context(
            viewer, linkage_key, original, values=fields, lost_race=recorded.message()
        )
        return page(viewer.request, "amend.html", context, status=409)
    if isinstance(recorded, AlreadyRecorded) and recorded.decision.sent_at is not None:
        mark_decision_sent(viewer.request.session, token, recorded.decision.decision_id)
        return _back_to_child(
            viewer, viewer.handle_for(linkage_key), "This decision was already recorded."
        )
    # Recorded (now, or earlier without the hub's acknowledgement): every open page shows
    # the contacts decided, and the notice goes out (again: the same notice id).
    runtime.changes.publish_everyone(Change(Applied.UPDATED, proposed.covers[0], linkage_key))
    if amends is not None and not await _amendment_audited(viewer, linkage_key, notice, amends):
        # Recorded in the ledger, not sent: the same form sends it (and logs it) once.
        return problem_page(
            viewer.request,
            viewer.person,
            title="The amendment was not sent",
            message="Your amendment is recorded against the contact, but it could not be "
            "written to the audit log, so it has not been sent to partners. Go back and "
            "submit the same form again: it will be logged and sent once.",
            status=503,
        )
    return await _send(viewer, viewer.handle_for(linkage_key), token, checked, notice, amends)


async def _amendment_audited(
    viewer: Viewer, linkage_key: str, notice: Mapping[str, Any], amends: AmendmentOf
) -> bool:
    """DECISION_AMENDED (who amended which decision, the reason's digest), before the
    amendment leaves the console; the same log entry however often the form is sent."""
    event = decision_amended_event(
        requester=requester_of(viewer),
        amended_decision_id=amends.decision_id,
        amendment_decision_id=str(notice["notice_id"]),
        child_key=linkage_key,
        reason=amends.reason,
        at=viewer.runtime.clock(),
    )
    return await record_consultation(viewer, event)


async def _send(
    viewer: Viewer,
    handle: str,
    token: str,
    checked: DecisionInput,
    notice: Mapping[str, Any],
    amends: AmendmentOf | None,
) -> Response:
    runtime = viewer.runtime
    try:
        notice_id = await runtime.decisions.send(notice)
    except Exception as error:
        log.error("decision not sent", extra={"error": type(error).__name__})
        return problem_page(
            viewer.request,
            viewer.person,
            title="The decision was not sent",
            message="Your decision is recorded against the contact, but the hub did not "
            "confirm it, so partners have not received it. Go back and submit the same "
            "form again: it will be sent once, never recorded twice.",
            status=503,
        )
    runtime.screening.mark_sent(notice_id, runtime.clock())
    mark_decision_sent(viewer.request.session, token, notice_id)
    log.info("decision sent", extra={"subject": viewer.person.subject, "notice_id": notice_id})
    return _back_to_child(viewer, handle, _recorded_message(checked, amends))


def _recorded_message(checked: DecisionInput, amends: AmendmentOf | None) -> str:
    routed = (
        f" Early help goes to {checked.early_help_organisation} only."
        if checked.early_help_organisation
        else ""
    )
    what = "Amended decision recorded" if amends else "Decision recorded"
    return (
        f"{what}: {MASH_OUTCOME_LABELS[checked.outcome]}, RAG "
        f"{RAG_LABELS[checked.rag]}.{routed} It appears below once the hub has checked and "
        "shared it."
    )
