"""The owning agency's IG officer reviews emergency access (issue 18): the queue as JSON and
as a page, one review per grant, the count on the /ig/ landing page. Thin edge over
`break_glass_review` (pure) and `break_glass_reviews` (the private SQLite file).

    GET  /v1/break-glass                         the officer's queue (JSON)
    GET  /ig/break-glass                         the same as a page, with a form per grant
    POST /v1/break-glass/{decision_id}/review    outcome JUSTIFIED | NOT_JUSTIFIED | ESCALATED
                                                 and a note (form or JSON); 409 once reviewed

Wired by `services.audit.api.create_app` (`break_glass_router`), which hands in its audited
dependency: every request is logged before it runs, and needs the IG role. Only grants over
information the officer's own agency sent are listed or reviewable (the token's `agency`
claim against the agency of the record's `originating_controller`); another agency's grant
is a 403, an unknown id a 404. A kept review is also logged as an entry of its own,
`break_glass_reviewed` (decision id, outcome, a keyed digest of the note: never its text),
like `family_report_approved`.
"""

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from services.audit.access_parameters import recorded_actor, recorded_roles
from services.audit.break_glass_review import (
    EMERGENCY_ACCESS_PURPOSE,
    NOTE_MAX_CHARS,
    OUTCOME_WORDS,
    AlreadyReviewed,
    BreakGlassQueuePublic,
    Grant,
    NotOwningAgency,
    ReviewInvalid,
    ReviewOutcome,
    checked_review,
    grant_from_record,
    grants_by_recipient_and_review,
    review_queue,
    unreviewed,
)
from services.audit.break_glass_reviews import BreakGlassReviews
from services.audit.indexer import AccessEvent, EntryKind, entry_for_access, to_ms
from services.audit.storage import AuditStore, DecisionQuery, StoredLeaf
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import CodecError
from services.hubkit.keyed_digest import keyed_digest

__all__ = [
    "BREAK_GLASS_REVIEWS_STATE",
    "break_glass_mix",
    "break_glass_router",
    "read_grants",
    "unreviewed_for",
]

_LEAF_HEADER = "X-Audit-Access-Leaf"
"""`api.ACCESS_LEAF_HEADER` (api.py imports this module): a Response returned as is does not
carry the headers the audited dependency set, so the routes copy it."""

BREAK_GLASS_REVIEWS_STATE = "break_glass_reviews"
"""`app.state` attribute holding the `BreakGlassReviews` (set in create_app's lifespan)."""

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("services.audit", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _grants_of(
    leaves: list[StoredLeaf], catalog: SchemaCatalog, agencies: Mapping[str, str]
) -> list[Grant]:
    out = []
    for leaf in leaves:
        if leaf.kind is not EntryKind.DECISION:
            continue
        try:
            logged = read_logged_record(catalog, leaf.data)
        except CodecError:
            continue
        if logged.message_type is MessageType.AUDIT_RECORD:
            grant = grant_from_record(leaf.leaf_index, logged.record, agencies)
            if grant is not None:
                out.append(grant)
    return out


def read_grants(
    store: AuditStore,
    catalog: SchemaCatalog,
    agencies: Mapping[str, str],
    *,
    decided_from_ms: int | None = None,
    decided_to_ms: int | None = None,
    page: int = 1000,
) -> list[Grant]:
    """Every break-glass grant the log holds (decided in the period, if given), in log order.
    The purpose column finds the candidates; the record's own `break_glass` decides."""
    out: list[Grant] = []
    offset = 0
    while True:
        leaves = store.find(
            DecisionQuery(
                event="SHARING_DECISION",
                purpose=EMERGENCY_ACCESS_PURPOSE,
                decided_from_ms=decided_from_ms,
                decided_to_ms=decided_to_ms,
                limit=page,
                offset=offset,
            )
        )
        out.extend(_grants_of(leaves, catalog, agencies))
        if len(leaves) < page:
            return out
        offset += page


def break_glass_mix(
    store: AuditStore,
    catalog: SchemaCatalog,
    agencies: Mapping[str, str],
    reviews: BreakGlassReviews,
    *,
    start: dt.datetime,
    end: dt.datetime,
) -> dict[tuple[str, str], int]:
    """Grants decided in [start, end) by recipient and review: the decision mix's table."""
    grants = read_grants(
        store, catalog, agencies, decided_from_ms=to_ms(start), decided_to_ms=to_ms(end)
    )
    return grants_by_recipient_and_review(grants, reviews.all())


def _reviews(request: Request) -> BreakGlassReviews:
    reviews: BreakGlassReviews = getattr(request.app.state, BREAK_GLASS_REVIEWS_STATE)
    return reviews


def _queue(request: Request, agency: str | None) -> BreakGlassQueuePublic:
    ctx = request.app.state.ctx
    grants = read_grants(ctx.store, ctx.catalog, ctx.agency_of_organisation)
    return review_queue(grants, _reviews(request).all(), agency=agency)


def unreviewed_for(request: Request, agency: str | None) -> int:
    """Grants over `agency`'s information not yet reviewed (the /ig/ landing page's count)."""
    if agency is None:
        return 0
    ctx = request.app.state.ctx
    grants = read_grants(ctx.store, ctx.catalog, ctx.agency_of_organisation)
    return unreviewed(grants, _reviews(request).all(), agency=agency)


def _page(
    queue: BreakGlassQueuePublic, leaf: int, message: str = "", status: int = 200
) -> HTMLResponse:
    html = _ENV.get_template("break_glass.html").render(
        queue=queue,
        message=message,
        outcomes=[(o.value, OUTCOME_WORDS[o]) for o in ReviewOutcome],
        outcome_words=OUTCOME_WORDS,
        note_max=NOTE_MAX_CHARS,
    )
    return HTMLResponse(html, status_code=status, headers={**_HEADERS, _LEAF_HEADER: str(leaf)})


def break_glass_router(*, audited: Callable[..., Any]) -> APIRouter:
    """The routes, given the API's audited dependency (log before running, IG role)."""
    Access = Annotated[Any, Depends(audited)]
    router = APIRouter()

    def log(request: Request, access: Any, parameters: dict[str, str]) -> None:
        ctx = request.app.state.ctx
        event = AccessEvent(
            access_id=ctx.new_id(),
            at_ms=ctx.clock_ms(),
            actor=recorded_actor(access.claims.subject),
            roles=recorded_roles(access.claims.roles),
            action="break_glass_reviewed",
            parameters=parameters,
        )
        ctx.store.append([entry_for_access(event)], appended_at_ms=event.at_ms)

    @router.get("/v1/break-glass", response_model=BreakGlassQueuePublic, name="break_glass_queue")
    def queue_json(request: Request, access: Access) -> BreakGlassQueuePublic:
        """Emergency access to the officer's agency's information: not yet reviewed first."""
        return _queue(request, access.claims.agency)

    @router.get(
        "/ig/break-glass",
        response_class=HTMLResponse,
        name="break_glass_page",
        include_in_schema=False,
    )
    def queue_page(request: Request, access: Access) -> HTMLResponse:
        return _page(_queue(request, access.claims.agency), access.leaf_index)

    @router.post("/v1/break-glass/{decision_id}/review", name="break_glass_review")
    async def review(request: Request, access: Access, decision_id: str) -> Response:
        """Keep the owning agency's review of one grant (once)."""
        from_page = "application/json" not in request.headers.get("content-type", "")
        if from_page:
            form = await request.form()
            outcome, note = str(form.get("outcome") or ""), str(form.get("note") or "")
        else:
            try:
                body = json.loads(await request.body())
            except ValueError:
                body = None
            if not isinstance(body, dict):
                body = {}
            outcome, note = str(body.get("outcome") or ""), str(body.get("note") or "")
        agency: str | None = access.claims.agency
        leaf = {_LEAF_HEADER: str(access.leaf_index)}

        def refused(status: int, reason: str) -> Response:
            if from_page:
                words = reason[:1].upper() + reason[1:] + "."
                return _page(_queue(request, agency), access.leaf_index, words, status)
            return JSONResponse({"detail": reason}, status_code=status, headers=leaf)

        ctx = request.app.state.ctx
        leaves = await run_in_threadpool(ctx.store.leaves_for_entry, decision_id)
        grants = _grants_of(leaves, ctx.catalog, ctx.agency_of_organisation)
        if not grants:
            return refused(404, "no emergency access with this decision id is in the log")
        try:
            kept = checked_review(
                grants[0],
                officer_agency=agency,
                outcome=outcome,
                note=note,
                reviewed_by=recorded_actor(access.claims.subject),
                reviewed_at=dt.datetime.fromtimestamp(ctx.clock_ms() / 1000, tz=dt.UTC),
            )
        except NotOwningAgency as error:
            return refused(403, error.reason)
        except ReviewInvalid as error:
            return refused(422, error.reason)
        reviews = _reviews(request)
        if decision_id in await run_in_threadpool(reviews.all):
            return refused(409, "this emergency access has already been reviewed")
        # Logged before it is kept: no entry in the log, no review (a failed append is a 503).
        await run_in_threadpool(
            log,
            request,
            access,
            {
                "decision_id": kept.decision_id,
                "outcome": kept.outcome.value,
                "note_digest": keyed_digest(request.app.state.digest_key, kept.note),
            },
        )
        try:
            await run_in_threadpool(reviews.keep, kept)
        except AlreadyReviewed as error:  # another officer, a moment earlier
            return refused(409, error.reason)
        if from_page:
            return RedirectResponse("/ig/break-glass", status_code=303, headers=leaf)
        return JSONResponse(
            {
                "decision_id": kept.decision_id,
                "outcome": kept.outcome.value,
                "note": kept.note,
                "reviewed_by": kept.reviewed_by,
                "reviewed_at": kept.reviewed_at.isoformat(),
            },
            status_code=201,
            headers=leaf,
        )

    return router
