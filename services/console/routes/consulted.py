"""Recording a consultation before a page is returned (domain/consultations.py builds the
events): who is asking, why (their purpose), and the 503 page a person gets when the event
could not be written. No event, no page: an unlogged view of safeguarding records is not
allowed to happen (DPA 2018 s62), so the console fails closed like a search does.

A child's page remembers, in the person's session, a digest of the notices it last showed
them (`remember_shown`). A live refresh of that page that shows the same notices repeats a
view already in the log and writes nothing; one that now shows a notice the person had not
been shown there is a consultation of it, recorded as a live update.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.responses import HTMLResponse, Response

from services.console.domain.access import Requester
from services.console.domain.consultations import ConsultationPurpose, consultation_purpose
from services.console.domain.feed import FeedEntry
from services.console.routes.access_log import requester_for, written
from services.console.routes.dependencies import Viewer
from services.console.routes.rendering import problem_page

__all__ = [
    "already_shown",
    "from_search",
    "not_recorded",
    "purpose_of",
    "record_consultation",
    "remember_search_results",
    "remember_shown",
    "requester_of",
    "shown",
]

log = logging.getLogger("safehub.console")

_SEARCH_RESULTS_KEY = "search_results"
"""The child links the person's last search showed them (in the session, not the URL: a
marker in a link would travel with a bookmark or a pasted link, and call a later visit a
search). Opening one of them is a view for the search's purpose, once."""
_SHOWN_KEY = "consulted"
_SHOWN_KEPT = 50  # child pages remembered per session (the oldest is forgotten first)


def requester_of(viewer: Viewer) -> Requester:
    return requester_for(viewer.person, viewer.runtime.topology)


def purpose_of(viewer: Viewer, *, from_search: bool = False) -> ConsultationPurpose:
    return consultation_purpose(
        subscriber=requester_of(viewer).subscriber,
        may_decide=viewer.may_decide,
        from_search=from_search,
    )


def shown(entries: Iterable[FeedEntry]) -> list[tuple[str, str, str]]:
    """(notice id, linkage key, source agency) of each entry a page shows."""
    return [(e.notice_id, e.linkage_key, e.source_agency) for e in entries]


async def record_consultation(viewer: Viewer, event: Mapping[str, Any]) -> bool:
    """Write the event to the consultation log; False (and a loud log line, with the event
    kind only) when it could not be written."""
    return await written(
        viewer.runtime.consultations, event, failure="consultation not written; page not shown"
    )


def not_recorded(viewer: Viewer, *, fragment: bool = False) -> Response:
    """503: the view could not be logged, so nothing is shown (a fragment: an empty body,
    and the open page keeps what it showed)."""
    if fragment:
        return HTMLResponse("", status_code=503)
    return problem_page(
        viewer.request,
        viewer.person,
        title="This page cannot be shown just now",
        message="Every view of a child's records is written to the audit log before it is "
        "shown, and the audit log could not be reached, so nothing was shown. Try again in a "
        "few minutes; if it keeps happening, tell the MASH's system administrator.",
        status=503,
    )


def already_shown(viewer: Viewer, handle: str, digest: str) -> bool:
    """Whether this session's last logged view of the child page showed exactly these."""
    remembered = viewer.request.session.get(_SHOWN_KEY)
    return isinstance(remembered, dict) and remembered.get(handle) == digest


def remember_shown(viewer: Viewer, handle: str, digest: str) -> None:
    session = viewer.request.session
    remembered = session.get(_SHOWN_KEY)
    kept = dict(remembered) if isinstance(remembered, dict) else {}
    kept.pop(handle, None)
    kept[handle] = digest
    session[_SHOWN_KEY] = dict(list(kept.items())[-_SHOWN_KEPT:])


def remember_search_results(viewer: Viewer, handles: Iterable[str]) -> None:
    """The child links a search (already audited as CHILD_SEARCHED) has just shown."""
    viewer.request.session[_SEARCH_RESULTS_KEY] = list(handles)


def from_search(viewer: Viewer, handle: str) -> bool:
    """Whether the person is opening a child their last search showed them (then forgotten:
    a later visit has the purpose of who they are)."""
    session = viewer.request.session
    results = session.get(_SEARCH_RESULTS_KEY)
    if not isinstance(results, list) or handle not in results:
        return False
    session[_SEARCH_RESULTS_KEY] = [h for h in results if h != handle]
    return True
