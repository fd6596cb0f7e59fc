"""Emergency access ('break-glass', issue 18) on a notice page: the panel (domain/
break_glass.py) and POST /items/{notice_id}/break-glass, the request.

The request is checked with the IG officers' rules (the same `refusal` the gateway applies
again), signed with the console's key and published on breakglass.requests.v1 (outbound.py)
before the person is told it was sent; nothing is shown because of it. What the hub grants
comes back on the desk's feed and is kept apart (break_glass.py); the notice page shows it
to the requester only, until it ends, each view logged first (routes/items.py), with the
desk item's marking and handling caveat. A refusal from the hub ends the wait: the person who
asked (only they) is told why in the panel.

GET /break-glass/alerts: "Emergency access to your agency's information", the owner's alerts
on the person's desk (everyone signed in at the desk sees them; the navigation counts them).
Like the queue, the list is not logged as a consultation: it holds no notice content (ids,
field names, role and desk, the requester's reasons), and each notice it links to is logged
when it is opened.
"""

from __future__ import annotations

import datetime as dt
import logging

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.break_glass import (
    BreakGlassRefused,
    EmergencyPanel,
    Grant,
    break_glass_request,
    console_role,
    emergency_panel,
    request_offer,
)
from services.console.domain.break_glass_answers import alert_views, refusal_for_viewer
from services.console.domain.feed import FeedEntry
from services.console.domain.labels import ROLE_LABELS, humanise
from services.console.routes.dependencies import SignedIn, Viewer
from services.console.routes.forms import csrf_ok
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context, problem_page, stale_form_page

__all__ = ["panel_for", "router"]

log = logging.getLogger("safehub.console.break_glass")

router = APIRouter()


def panel_for(
    viewer: Viewer, entry: FeedEntry, grant: Grant | None, *, now: dt.datetime
) -> EmergencyPanel | None:
    """The emergency access panel of `entry`'s page for this person (None: none)."""
    runtime = viewer.runtime
    rules = runtime.break_glass_rules
    offer = (
        request_offer(rules, roles=viewer.person.roles, entry=entry)
        if runtime.break_glass is not None
        else None
    )
    grants, subject = runtime.grants, viewer.person.subject
    pending = (
        grants.pending(entry.subscriber_id, entry.notice_id, subject)
        if grants is not None
        else None
    )
    # Only the person who asked is told of a refusal (a colleague's is never looked at).
    refusal = (
        refusal_for_viewer(
            grants.refusals_for(entry.subscriber_id, entry.notice_id), subject=subject
        )
        if grants is not None
        else None
    )
    return emergency_panel(
        grant=grant,
        asked_at=None if pending is None else pending.requested_at,
        offer=offer,
        rules=rules,
        now=now,
        refusal=refusal,
        desk_entry=entry,
    )


def _not_sent(viewer: Viewer, message: str, status: int) -> Response:
    return problem_page(
        viewer.request,
        viewer.person,
        title="Your emergency access request was not sent",
        message=message,
        status=status,
    )


@router.post("/items/{notice_id}/break-glass")
async def ask(viewer: SignedIn, notice_id: str) -> Response:
    form = await viewer.request.form()
    if not csrf_ok(viewer.request, form.get("csrf_token")):
        return stale_form_page(viewer.request, viewer.person, 403)
    entry = viewer.projection.get(notice_id)
    if entry is None:
        return await refuse(
            viewer.request, viewer.person, RefusalReason.NOT_IN_FEED, notice_id=notice_id
        )
    runtime = viewer.runtime
    rules, sender, grants = runtime.break_glass_rules, runtime.break_glass, runtime.grants
    if rules is None or sender is None or grants is None:
        return _not_sent(viewer, "This console does not offer emergency access.", 404)
    now = runtime.clock()
    request_id = runtime.new_id()
    try:
        record = break_glass_request(
            rules,
            request_id=request_id,
            entry=entry,
            requester_subject=viewer.person.subject,
            roles=viewer.person.roles,
            reason=str(form.get("reason") or ""),
            justification=str(form.get("justification") or ""),
            requested=[str(p) for p in form.getlist("paths")],
            at=now,
        )
    except BreakGlassRefused as refused:
        allowed = console_role(rules, roles=viewer.person.roles, desk=entry.subscriber_id)
        status = 403 if allowed is None else 422
        return _not_sent(viewer, f"It cannot be sent: {refused}. Go back and try again.", status)
    try:
        await sender.request_break_glass(record)
    except Exception as error:  # the broker, a timeout: nothing was asked
        log.warning(
            "emergency access request not published",
            extra={"request_id": request_id, "error": type(error).__name__},
        )
        return _not_sent(
            viewer,
            "The hub could not be reached, so nothing was asked. Try again in a minute; if "
            "a child is at risk now, telephone the agency that holds the information.",
            503,
        )
    grants.asked(
        request_id=request_id,
        subscriber_id=entry.subscriber_id,
        notice_id=entry.notice_id,
        linkage_key=entry.linkage_key,
        requester_subject=viewer.person.subject,
        at=now,
    )
    log.info("emergency access requested", extra={"request_id": request_id})
    viewer.request.session["flash"] = (
        "Your emergency access request was sent. The information appears on this page, for "
        "you only, when the hub grants it."
    )
    return RedirectResponse(f"/items/{entry.notice_id}", status_code=303)


def _in_sentence(words: str) -> str:
    """'Health navigator' -> 'health navigator'; 'MASH manager' stays."""
    return words if words[:2].isupper() else words[:1].lower() + words[1:]


@router.get("/break-glass/alerts", response_class=HTMLResponse)
async def alerts(viewer: SignedIn) -> Response:
    """The owner's alerts on this person's desk, latest grant first."""
    runtime, person = viewer.runtime, viewer.person
    assert person.subscriber_id is not None  # SignedIn: a person with a feed
    kept = [] if runtime.grants is None else runtime.grants.alerts_for(person.subscriber_id)
    desks = {
        s.subscriber_id: f"the {_in_sentence(ROLE_LABELS.get(s.role, humanise(s.role)))} desk "
        f"({s.organisation})"
        for s in runtime.topology.subscribers
    }
    projection = viewer.projection
    views = alert_views(
        kept,
        holds_notice=lambda notice_id: projection.get(notice_id) is not None,
        desks=desks,
        reasons=runtime.break_glass_rules.reasons if runtime.break_glass_rules else {},
        now=runtime.clock(),
    )
    context = page_context(viewer.request, person, nav="break-glass-alerts", alerts=views)
    return page(viewer.request, "break_glass_alerts.html", context)
