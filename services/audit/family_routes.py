"""The IG officer's path from a family's request to the report they can read (issue 17):
find the child by identifiers, read the family's draft, leave rows out with reasons, approve,
download the PDF. Thin edge over `child_lookup` (the index), `family_report` (pure) and
WeasyPrint. Wired by `services.audit.api.create_app` (`family_router`), which hands in its own
audited dependency and report builder, so every route here is logged before it runs like
every other IG query.

Besides the route's own access entry, two outcomes are logged as entries of their own:
`child_lookup_done` (the kinds of identifier typed, how many children the index matched, the
request reference as a keyed digest, hmac-sha256: never what was typed) and
`family_report_approved` (audience, how many rows were left out, a keyed digest of the
rows-and-reasons and a plain sha256 of the approved report).

Approvals are kept across restarts (`family_approvals.py`, `app.state.family_reviews`). Only
the report as approved is rendered to PDF, never a fresh draft.
"""

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.audit.access_parameters import recorded_actor, recorded_roles
from services.audit.child_lookup import (
    ChildIndexUnavailable,
    ChildLookup,
    IdentifiersNotEnough,
    identifier_kinds,
    identifiers_from_form,
)
from services.audit.family_approvals import FamilyApprovals
from services.audit.family_report import (
    Audience,
    FamilyReportPublic,
    ReviewInvalid,
    apply_review,
    family_report,
    organisation_names,
    render_family_html,
    source_agencies,
)
from services.audit.indexer import AccessEvent, entry_for_access
from services.audit.reports import SubjectAccessReportPublic
from services.hubkit.keyed_digest import keyed_digest
from services.hubkit.topology import Topology, load_topology

__all__ = ["family_router", "render_pdf"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("services.audit", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _page(message: str = "", results: str = "", status: int = 200) -> HTMLResponse:
    # message and results are built here from fixed text and keys, never from what was typed.
    page = _ENV.get_template("find_child.html").render(message=message, results=results)
    return HTMLResponse(page, status_code=status)


def _error(text: str) -> str:
    return f'<p class="error" role="alert">{text}</p>'


def _content_digest(value: str) -> str:
    # Plain: the digest of a whole approved report (times, keys, every row) cannot be guessed,
    # and whoever holds the report (the DPO, the approvals file) must be able to check it
    # against the log without the service's key.
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _typed_digest(request: Request, value: str) -> str:
    # Keyed: what an officer typed or chose (a request reference such as "SAR-2026-0042",
    # reasons from a handful) is guessed by hashing candidates, unless the hash is keyed.
    key: bytes = request.app.state.digest_key
    return keyed_digest(key, value)


def render_pdf(html: str) -> bytes:
    """The page as a PDF (WeasyPrint; tagged, so a screen reader can read it)."""
    import weasyprint  # heavy (pango): loaded when the first PDF is asked for

    pdf: bytes = weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/ua-1")
    return pdf


def family_router(
    *,
    audited: Callable[..., Any],
    sar: Callable[[Any, str], SubjectAccessReportPublic],
    policies_dir: Path | None = None,
) -> APIRouter:
    """The routes, given the API's audited dependency (log before running, IG role), its
    subject access report builder (which refuses a key no child has: NotFound) and the policy
    bundle whose agencies and subscribers name the organisations (codes shown without it)."""

    @functools.cache
    def topology() -> Topology | None:
        return load_topology(policies_dir) if policies_dir is not None else None

    Access = Annotated[Any, Depends(audited)]
    router = APIRouter(prefix="/v1")

    def log(request: Request, access: Any, action: str, parameters: dict[str, str]) -> None:
        ctx = request.app.state.ctx
        event = AccessEvent(
            access_id=ctx.new_id(),
            at_ms=ctx.clock_ms(),
            actor=recorded_actor(access.claims.subject),
            roles=recorded_roles(access.claims.roles),
            action=action,
            parameters=parameters,
        )
        ctx.store.append([entry_for_access(event)], appended_at_ms=event.at_ms)

    @router.get("/children/find", response_class=HTMLResponse, name="child_find_form")
    def find_form(_access: Access) -> HTMLResponse:
        """The find-a-child form (name, date of birth, NHS number / LA child id / UPN)."""
        return _page()

    @router.post("/children/find", response_class=HTMLResponse, name="child_find")
    async def find(request: Request, access: Access) -> HTMLResponse:
        """The child's keys from typed identifiers, through the child index's search."""
        form = {k: str(v) for k, v in (await request.form()).items()}
        reference = form.get("sar_reference", "").strip()
        if not reference:
            return _page(_error("Enter the subject access request's reference."), status=422)
        try:
            identifiers = identifiers_from_form(form)
        except IdentifiersNotEnough as error:
            return _page(_error(error.reason.capitalize() + "."), status=422)
        lookup: ChildLookup = request.app.state.child_lookup
        try:
            found = await lookup.search(identifiers)
        except ChildIndexUnavailable as error:
            return _page(_error("The child index cannot be searched: " + error.reason), status=503)
        except IdentifiersNotEnough as error:
            return _page(_error(error.reason.capitalize() + "."), status=422)
        await run_in_threadpool(
            log,
            request,
            access,
            "child_lookup_done",
            {
                "sar_reference": _typed_digest(request, reference),
                "identifiers_used": ",".join(identifier_kinds(identifiers)),
                "index_matches": str(len(found)),
            },
        )
        if not found:
            return _page(
                results="<h2>No child found</h2><p>The child index has no child "
                "with these details. Check them with the family.</p>"
            )
        rows = "".join(
            f"<li>{f.strength.capitalize()} match ({len(f.keys)} reference(s)): "
            f'<a href="/v1/subjects/{f.child_key}/family-report.html?audience=parent">'
            "report for the parent or carer</a>, "
            f'<a href="/v1/subjects/{f.child_key}/family-report.html?audience=child">'
            "report for the child</a>, "
            f'<a href="/v1/subjects/{f.child_key}/access-report.html">full audit annex (DPO)'
            "</a></li>"
            for f in found
        )
        return _page(results=f"<h2>Children found</h2><ul>{rows}</ul>")

    def _draft(request: Request, key: str, audience: Audience) -> FamilyReportPublic:
        known = topology()
        return family_report(
            sar(request.app.state.ctx, key),
            audience=audience,
            organisation_names=organisation_names(known) if known else None,
            source_agencies=source_agencies(known) if known else None,
        )

    @router.get(
        "/subjects/{subject_linkage_key}/family-report.html",
        response_class=HTMLResponse,
        name="family_report_draft",
    )
    def draft_page(
        request: Request,
        _access: Access,
        subject_linkage_key: str,
        audience: Annotated[Audience, Query()] = Audience.PARENT,
    ) -> HTMLResponse:
        """The family's report as a draft for the IG officer to review and approve."""
        draft = _draft(request, subject_linkage_key, audience)
        action = (
            f"/v1/subjects/{subject_linkage_key}/family-report/approve?audience={audience.value}"
        )
        return HTMLResponse(render_family_html(draft, for_review=True, review_action=action))

    @router.post("/subjects/{subject_linkage_key}/family-report/approve", name="family_approve")
    async def approve(
        request: Request,
        access: Access,
        subject_linkage_key: str,
        audience: Annotated[Audience, Query()] = Audience.PARENT,
    ) -> Response:
        """Approve the draft, leaving out the ticked rows (each needs a reason)."""
        form = await request.form()
        left_out = {
            str(row): str(form.get(f"reason-{row}") or "") for row in form.getlist("leave_out")
        }
        draft = await run_in_threadpool(_draft, request, subject_linkage_key, audience)
        ctx = request.app.state.ctx
        try:
            approved = apply_review(
                draft,
                left_out=left_out,
                approved_by=recorded_actor(access.claims.subject),
                approved_at=dt.datetime.fromtimestamp(ctx.clock_ms() / 1000, tz=dt.UTC),
            )
        except ReviewInvalid as error:
            return HTMLResponse(_error(str(error)), status_code=422)
        await run_in_threadpool(
            log,
            request,
            access,
            "family_report_approved",
            {
                "audience": audience.value,
                "rows_left_out": str(len(left_out)),
                "left_out_digest": _typed_digest(request, json.dumps(sorted(left_out.items()))),
                "report_sha256": _content_digest(approved.model_dump_json()),
            },
        )
        reviews: FamilyApprovals = request.app.state.family_reviews
        await run_in_threadpool(reviews.approve, subject_linkage_key, audience, approved)
        return RedirectResponse(
            f"/v1/subjects/{subject_linkage_key}/family-report/approved.html"
            f"?audience={audience.value}",
            status_code=303,
        )

    def _approved(request: Request, key: str, audience: Audience) -> FamilyReportPublic | None:
        reviews: FamilyApprovals = request.app.state.family_reviews
        return reviews.approved(key, audience)

    @router.get(
        "/subjects/{subject_linkage_key}/family-report/approved.html",
        response_class=HTMLResponse,
        name="family_report_approved_page",
    )
    def approved_page(
        request: Request,
        _access: Access,
        subject_linkage_key: str,
        audience: Annotated[Audience, Query()] = Audience.PARENT,
    ) -> HTMLResponse:
        """The report as approved, with the PDF to send."""
        approved = _approved(request, subject_linkage_key, audience)
        if approved is None:
            return HTMLResponse(_error("This report has not been approved yet."), 409)
        pdf = f"/v1/subjects/{subject_linkage_key}/family-report.pdf?audience={audience.value}"
        return HTMLResponse(render_family_html(approved, pdf_url=pdf))

    @router.get("/subjects/{subject_linkage_key}/family-report.pdf", name="family_report_pdf")
    def pdf(
        request: Request,
        _access: Access,
        subject_linkage_key: str,
        audience: Annotated[Audience, Query()] = Audience.PARENT,
    ) -> Response:
        """The approved report as a PDF for the family; refused until approved."""
        approved = _approved(request, subject_linkage_key, audience)
        if approved is None:
            return HTMLResponse(_error("Approve the report before downloading it."), 409)
        return Response(
            render_pdf(render_family_html(approved)),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="report-{audience.value}.pdf"'},
        )

    return router
