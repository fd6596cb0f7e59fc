"""A triage decision: checked (CSRF, role, child, single-use form token), validated, made
into a MASH_DECISION notice and published through the hub. The notice's source reference is
the form token, so a resubmitted form is the same notice, never a second decision."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from services.console.domain.access import RefusalReason
from services.console.domain.decisions import (
    DecisionInput,
    FieldProblem,
    mash_decision_notice,
    validate_decision,
)
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS, ROLE_LABELS, label
from services.console.domain.views import child_view
from services.console.errors import ChildNotIdentifiable
from services.console.routes.children import child_context
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import (
    DecisionFormState,
    csrf_ok,
    decision_form_state,
    mark_decision_sent,
)
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, problem_page, stale_form_page

__all__ = ["router"]

log = logging.getLogger("safehub.console")
router = APIRouter()

_NAME_NOT_VISIBLE = FieldProblem(
    "rationale",
    "The child's name is not visible to you, so a decision cannot say who it is "
    "about. Ask a colleague who can see it.",
)


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
    checked = _validated(viewer, entries, fields)
    if not isinstance(checked, DecisionInput):
        return _form_again(viewer, linkage_key, checked, fields)
    try:
        notice = mash_decision_notice(
            checked,
            child_entries=entries,
            linkage_key=linkage_key,
            origin=viewer.runtime.origin,
            decided_by_role=_deciding_role(viewer),
            source_reference=f"MASH-DEC-{token}",
            now=viewer.runtime.clock(),
        )
    except ChildNotIdentifiable:
        return _form_again(viewer, linkage_key, [_NAME_NOT_VISIBLE], fields)
    return await _send(viewer, handle, token, checked, notice)


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


def _back_to_child(viewer: Viewer, handle: str, flash: str) -> Response:
    viewer.request.session["flash"] = flash
    return RedirectResponse(f"/children/{handle}", status_code=303)


async def _send(
    viewer: Viewer,
    handle: str,
    token: str,
    checked: DecisionInput,
    notice: Mapping[str, Any],
) -> Response:
    try:
        notice_id = await viewer.runtime.decisions.send(notice)
    except Exception as error:
        log.error("decision not sent", extra={"error": type(error).__name__})
        return problem_page(
            viewer.request,
            viewer.person,
            title="The decision was not sent",
            message="The hub did not confirm the decision, so nothing was recorded. "
            "Go back and submit it again; it will not be recorded twice.",
            status=503,
        )
    mark_decision_sent(viewer.request.session, token, notice_id)
    log.info("decision sent", extra={"subject": viewer.person.subject, "notice_id": notice_id})
    return _back_to_child(viewer, handle, _recorded_message(checked))


def _recorded_message(checked: DecisionInput) -> str:
    routed = (
        f" Early help goes to {checked.early_help_organisation} only."
        if checked.early_help_organisation
        else ""
    )
    return (
        f"Decision recorded: {MASH_OUTCOME_LABELS[checked.outcome]}, RAG "
        f"{RAG_LABELS[checked.rag]}.{routed} It appears below once the hub has checked and "
        "shared it."
    )
