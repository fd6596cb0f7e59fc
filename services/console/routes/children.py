"""A child's page (chronology across agencies, and the decision form for those who may
decide) and the fragment its live updates re-fetch. A child is addressed by its stable link
(domain/links.py: the same URL for everyone, in every session), authorised on every request:
a link to a child with no notice in this person's feed, or a link the console did not make,
is refused and audited. A child the child index merged from several keys shows the notices
of every key (a link made for any of them opens it), and the page's own links use the link
of the key the index keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.decisions import FieldProblem
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS
from services.console.domain.views import child_view
from services.console.routes.allocation import screening_context, undecided_in_ledger
from services.console.routes.dependencies import SignedIn, SignedInFragment, Viewer
from services.console.routes.forms import open_decision_form
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context

__all__ = ["child_context", "router"]

router = APIRouter()


def child_context(
    viewer: Viewer,
    linkage_key: str,
    *,
    errors: list[FieldProblem] | None = None,
    values: Mapping[str, Any] | None = None,
    with_form: bool = True,
    lost_race: str | None = None,
) -> dict[str, Any]:
    """The child page's context; `errors` and `values` re-show a decision form that was not
    accepted, `lost_race` says who decided first. Without the form (the live fragment) no
    form token is issued and the flash message stays for the next full page."""
    runtime, projection, session = viewer.runtime, viewer.projection, viewer.request.session
    handle = viewer.handle_for(linkage_key)
    entries = viewer.child_entries(linkage_key)
    view = child_view(
        entries,
        projection,
        timescales=runtime.timescales,
        agencies=runtime.agencies,
    )
    screening = runtime.screening.states(e.notice_id for e in entries)
    # A contact the ledger has decided is decided from that moment, before the hub sends
    # the decision back through the feed: the form no longer offers it.
    view = replace(view, undecided=undecided_in_ledger(view.undecided, screening))
    may_decide = viewer.may_decide
    return page_context(
        viewer.request,
        viewer.person,
        child=view,
        handle=handle,
        may_decide=may_decide,
        decision_token=open_decision_form(session)
        if with_form and may_decide and view.undecided
        else None,
        errors=errors or [],
        error_for={p.field: p.message for p in errors or []},
        values=values or {},
        flash=session.pop("flash", None) if with_form else None,
        rag_labels=RAG_LABELS,
        outcome_labels=MASH_OUTCOME_LABELS,
        early_help=runtime.early_help,
        live_src=f"/live/children/{handle}",
        lost_race=lost_race,
        **screening_context(viewer, screening),
    )


@router.get("/children/{handle}", response_class=HTMLResponse)
async def child(viewer: SignedIn, handle: str) -> Response:
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(viewer.request, viewer.person, RefusalReason.CHILD_LINK_NOT_VALID)
    return page(viewer.request, "child.html", child_context(viewer, linkage_key))


@router.get("/live/children/{handle}", response_class=HTMLResponse)
async def chronology_fragment(viewer: SignedInFragment, handle: str) -> Response:
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.CHILD_LINK_NOT_VALID, fragment=True
        )
    context = child_context(viewer, linkage_key, with_form=False)
    return page(viewer.request, "_chronology.html", context)
