"""The child index's review queue ("same child?"): the list of reviews, one review's evidence
side by side, and a decision maker's answer. Only roles that may decide linkage (the MASH
decision makers and the MASH manager: `Viewer.may_decide_linkage`) reach these pages; anyone
else is refused and the refusal audited.

An answer is checked (CSRF, role, the review's id, the form), sent to the index as this
person (`decided_by` = their identity provider subject), then audited as a LINKAGE_DECIDED
console access event before the person is told anything. The index refuses a second
decision (409); if the earlier decision was this person's own with the same answer (a
resubmitted form, or an answer lost on its way back), it is audited (the same entry again,
harmlessly) and the person is told it was already recorded; otherwise the page says someone
else decided first and nothing changed. The index not answering keeps what was typed and
offers to try again: nothing was recorded that the page does not say."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason, linkage_decided_event
from services.console.domain.decisions import FieldProblem
from services.console.domain.reviews import (
    LinkageAnswer,
    Review,
    ReviewStatus,
    review_row,
    review_view,
    validate_linkage_answer,
    well_formed_review_id,
)
from services.console.domain.views.fields import when_text
from services.console.errors import ChildIndexError, ReviewAlreadyDecided, ReviewNotFound
from services.console.routes.access_log import requester_for, written
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, problem_page, stale_form_page

__all__ = ["router"]

log = logging.getLogger("safehub.console")
router = APIRouter()

_OUTCOME_TEXT = {True: "the same child", False: "not the same child"}


@router.get("/reviews", response_class=HTMLResponse)
async def reviews(viewer: SignedIn) -> Response:
    if not viewer.may_decide_linkage:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.ROLE_MAY_NOT_REVIEW_LINKAGE
        )
    runtime = viewer.runtime
    decided = viewer.request.query_params.get("show") == "decided"
    try:
        found = await runtime.child_index.reviews(
            decided=decided, limit=runtime.settings.review_list_limit
        )
    except ChildIndexError:
        return _index_unavailable(viewer)
    if not decided:  # the most likely first, whatever order the answer came in
        found = sorted(found, key=lambda r: -r.match_probability)
    count = await runtime.open_reviews.get() if decided else len(found)
    return page(
        viewer.request,
        "reviews.html",
        page_context(
            viewer.request,
            viewer.person,
            rows=[review_row(r, agencies=runtime.agencies) for r in found],
            show="decided" if decided else "open",
            flash=viewer.request.session.pop("flash", None),
            open_reviews=count,
            nav="reviews",
        ),
    )


@router.get("/reviews/{review_id}", response_class=HTMLResponse)
async def review(viewer: SignedIn, review_id: str) -> Response:
    if not viewer.may_decide_linkage:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.ROLE_MAY_NOT_REVIEW_LINKAGE
        )
    wanted = well_formed_review_id(review_id)
    if wanted is None:
        return _not_found(viewer)
    try:
        found = await viewer.runtime.child_index.review(wanted)
    except ReviewNotFound:
        return _not_found(viewer)
    except ChildIndexError:
        return _index_unavailable(viewer)
    return _review_page(viewer, found)


@router.post("/reviews/{review_id}/decision", response_class=HTMLResponse)
async def decide(viewer: SignedIn, review_id: str) -> Response:
    request, person, runtime = viewer.request, viewer.person, viewer.runtime
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return stale_form_page(request, person, 403)
    if not viewer.may_decide_linkage:
        return await refuse(request, person, RefusalReason.ROLE_MAY_NOT_REVIEW_LINKAGE)
    wanted = well_formed_review_id(review_id)
    if wanted is None:
        return _not_found(viewer)
    fields = {
        name: [str(v) for v in form.getlist(name) if isinstance(v, str)]
        for name in ("answer", "rationale")
    }
    answer = validate_linkage_answer(fields)
    try:
        found = await runtime.child_index.review(wanted)
    except ReviewNotFound:
        return _not_found(viewer)
    except ChildIndexError:
        return _try_again(viewer, wanted, fields)
    if isinstance(answer, list):
        return _review_page(viewer, found, errors=answer, values=fields, status=400)
    if not found.open:
        return await _already_decided(viewer, found, answer)
    try:
        recorded = await runtime.child_index.decide(
            wanted,
            same_child=answer.same_child,
            decided_by=person.subject,
            rationale=answer.rationale,
        )
    except ReviewAlreadyDecided:
        try:
            found = await runtime.child_index.review(wanted)
        except ChildIndexError:
            return _decided_elsewhere(viewer, None)
        return await _already_decided(viewer, found, answer)
    except ReviewNotFound:
        return _not_found(viewer)
    except ChildIndexError:
        return _try_again(viewer, wanted, fields)
    runtime.open_reviews.forget()
    log.info("linkage decision recorded", extra={"subject": person.subject, "review_id": wanted})
    if not await _audited(viewer, found, answer.same_child, answer.rationale, recorded.child_key):
        return _not_audited(viewer, wanted, fields)
    return _back_to_reviews(viewer, _recorded_message(answer))


async def _already_decided(viewer: Viewer, found: Review, answer: LinkageAnswer) -> Response:
    """The review was decided before this answer: this person's own decision again, or not."""
    if found.decided_by != viewer.person.subject or found.status is not answer.status:
        return _decided_elsewhere(viewer, found)
    # The index holds the text it recorded; the audit record's digest must match it.
    rationale = found.rationale or answer.rationale
    fields = {"answer": ["same" if answer.same_child else "not-same"], "rationale": [rationale]}
    if not await _audited(viewer, found, answer.same_child, rationale, None):
        return _not_audited(viewer, found.review_id, fields)
    return _back_to_reviews(viewer, "Your decision on this review was already recorded.")


async def _audited(
    viewer: Viewer, found: Review, same_child: bool, rationale: str, surviving: str | None
) -> bool:
    """Write the LINKAGE_DECIDED access event; False (logged) when the broker did not take it."""
    runtime = viewer.runtime
    record = linkage_decided_event(
        requester=requester_for(viewer.person, runtime.topology),
        review_id=found.review_id,
        left_child_key=found.left.child_key,
        right_child_key=found.right.child_key,
        same_child=same_child,
        surviving_child_key=surviving,
        match_probability=found.match_probability,
        rationale=rationale,
        at=runtime.clock(),
    )
    return await written(
        runtime.access_events,
        record,
        failure="LINKAGE_DECIDED access event not written",
        review_id=found.review_id,
    )


def _recorded_message(answer: LinkageAnswer) -> str:
    if answer.same_child:
        return (
            "Decision recorded: the same child. Their chronologies show as one once the child "
            "index has announced the merge (usually within seconds)."
        )
    return (
        "Decision recorded: not the same child. The child index will not link these records again."
    )


def _review_page(
    viewer: Viewer,
    found: Review,
    *,
    errors: list[FieldProblem] | None = None,
    values: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Response:
    runtime = viewer.runtime
    context = page_context(
        viewer.request,
        viewer.person,
        review=review_view(found, agencies=runtime.agencies, viewer_subject=viewer.person.subject),
        errors=errors or [],
        error_for={p.field: p.message for p in errors or []},
        values=values or {},
        nav="reviews",
    )
    return page(viewer.request, "review.html", context, status=status)


def _back_to_reviews(viewer: Viewer, flash: str) -> Response:
    viewer.request.session["flash"] = flash
    return RedirectResponse("/reviews", status_code=303)


def _not_found(viewer: Viewer) -> Response:
    return problem_page(
        viewer.request,
        viewer.person,
        title="Review not found",
        message="The child index has no review with this address. Open it again from the "
        "review queue.",
        status=404,
    )


def _index_unavailable(viewer: Viewer) -> Response:
    return problem_page(
        viewer.request,
        viewer.person,
        title="The child index is not available",
        message="The review queue could not be read from the child index just now. Nothing "
        "has changed. Try again in a minute; if it keeps happening, tell the hub's "
        "administrator.",
        status=503,
    )


def _decided_elsewhere(viewer: Viewer, found: Review | None) -> Response:
    """409: decided before this answer arrived (by someone else, or by this person with
    another answer in another tab)."""
    mine = found is not None and found.decided_by == viewer.person.subject
    if found is None or found.status is ReviewStatus.OPEN:
        said = "This review was decided before your answer arrived."
    else:
        who = "You had already decided" if mine else "Someone else decided"
        when = f" on {when_text(found.decided_at)}" if found.decided_at else ""
        outcome = _OUTCOME_TEXT[found.status is ReviewStatus.SAME_CHILD]
        said = f"{who} this review{when}: {outcome}."
    return problem_page(
        viewer.request,
        viewer.person,
        title="Already decided" if mine else "Already decided by someone else",
        message=f"{said} Your answer was not recorded and nothing was changed.",
        status=409,
    )


def _retry_page(
    viewer: Viewer,
    review_id: str,
    fields: dict[str, list[str]],
    *,
    title: str,
    message: str,
    status: int,
) -> Response:
    """The answer as typed, in a form that sends it again."""
    context = page_context(
        viewer.request,
        viewer.person,
        title=title,
        message=message,
        review_id=review_id,
        answer=(fields.get("answer") or [""])[0],
        rationale=(fields.get("rationale") or [""])[0],
        nav="reviews",
    )
    return page(viewer.request, "review_retry.html", context, status=status)


def _try_again(viewer: Viewer, review_id: str, fields: dict[str, list[str]]) -> Response:
    return _retry_page(
        viewer,
        review_id,
        fields,
        title="The child index did not answer",
        message="Your decision was not recorded: the child index could not be reached. What "
        "you entered is below; try again in a minute. It will not be recorded twice.",
        status=503,
    )


def _not_audited(viewer: Viewer, review_id: str, fields: dict[str, list[str]]) -> Response:
    return _retry_page(
        viewer,
        review_id,
        fields,
        title="Decision recorded, audit record not written",
        message="The child index recorded your decision, but the console could not write its "
        "audit record. Submit again to write it (the decision will not be recorded twice); if "
        "this keeps happening, tell the hub's administrator.",
        status=500,
    )
