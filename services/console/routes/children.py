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
from services.console.domain.consultations import child_viewed_event, notice_ids_digest
from services.console.domain.decisions import FieldProblem
from services.console.domain.labels import MASH_OUTCOME_LABELS, RAG_LABELS
from services.console.domain.views import child_view
from services.console.domain.views.withdrawn import withdrawal_view
from services.console.routes.agency_checks import research_context
from services.console.routes.allocation import screening_context, undecided_in_ledger
from services.console.routes.consulted import (
    already_shown,
    from_search,
    not_recorded,
    purpose_of,
    record_consultation,
    remember_shown,
    requester_of,
    shown,
)
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
    research_errors: Mapping[str, list[FieldProblem]] | None = None,
    research_values: Mapping[str, Mapping[str, Any]] | None = None,
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
    # Notices of this child withdrawn by their agencies: tombstones only (issue 18).
    withdrawn = [
        withdrawal_view(w)
        for w in projection.withdrawals_for_keys(runtime.aliases.group_of(linkage_key))
    ]
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
        withdrawn=withdrawn,
        **screening_context(viewer, screening),
        # Agency checks asked of partners and their findings, read before deciding.
        **research_context(
            viewer, entries, view.undecided, errors=research_errors, values=research_values
        ),
    )


@router.get("/children/{handle}", response_class=HTMLResponse)
async def child(viewer: SignedIn, handle: str) -> Response:
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(viewer.request, viewer.person, RefusalReason.CHILD_LINK_NOT_VALID)
    searched = from_search(viewer, viewer.handle_for(linkage_key))
    if not await _consulted(viewer, linkage_key, from_search=searched, live=False):
        return not_recorded(viewer)
    return page(viewer.request, "child.html", child_context(viewer, linkage_key))


@router.get("/live/children/{handle}", response_class=HTMLResponse)
async def chronology_fragment(viewer: SignedInFragment, handle: str) -> Response:
    linkage_key = viewer.child_key(handle)
    if linkage_key is None:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.CHILD_LINK_NOT_VALID, fragment=True
        )
    if not await _consulted(viewer, linkage_key, from_search=False, live=True):
        return not_recorded(viewer, fragment=True)
    context = child_context(viewer, linkage_key, with_form=False)
    return page(viewer.request, "_chronology.html", context)


async def _consulted(viewer: Viewer, linkage_key: str, *, from_search: bool, live: bool) -> bool:
    """Log the chronology about to be shown (CHILD_VIEWED), before it is. A live refresh that
    shows exactly what this session was last shown on the page repeats a logged view: nothing
    is written; one that shows a notice not shown before is a consultation of it."""
    entries = viewer.child_entries(linkage_key)
    handle = viewer.handle_for(linkage_key)
    digest = notice_ids_digest(e.notice_id for e in entries)
    if live and already_shown(viewer, handle, digest):
        return True
    runtime = viewer.runtime
    event = child_viewed_event(
        access_id=runtime.new_id(),
        requester=requester_of(viewer),
        purpose=purpose_of(viewer, from_search=from_search),
        child_key=linkage_key,
        shown=shown(entries),
        at=runtime.clock(),
        live_update=live,
    )
    if not await record_consultation(viewer, event):
        return False
    remember_shown(viewer, handle, digest)
    return True
