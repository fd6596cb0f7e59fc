"""The information governance page: where the IG officer lands after signing in.

The IG officer (settings.oversight_roles) reads no feed, so the console shows them no notice
content at all. Instead of a dead end, the page says what the console is for and shows, read
only, the sharing arrangements it runs under, all of it policy data the IG officer owns:
which role reads which feed here (policies/safehub/subscribers/data.json), who may record a
MASH decision (rule R2's roles) and decide "same child?", and how long a session lasts. It
then points to their real tools: the audit service's IG query API (decisions by notice,
child, recipient or period; the subject access report; the record of processing; this
console's own access events) and the policy and audit commands.

Anyone signed in may open it (nothing on it is personal or about a child). A person without a
feed who asks for a page that shows one gets the audited NO_FEED_FOR_ROLE refusal
(`no_feed_response`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.console.domain.access import RefusalReason
from services.console.domain.labels import ROLE_LABELS, label
from services.console.routes.dependencies import (
    MaybePerson,
    NoFeed,
    Runtime,
    SignedOutAnswer,
)
from services.console.routes.refusals import refuse
from services.console.routes.rendering import page, page_context

__all__ = ["no_feed_response", "router"]

router = APIRouter()


@router.get("/governance", response_class=HTMLResponse)
async def governance(request: Request, person: MaybePerson, runtime: Runtime) -> Response:
    if person is None:
        return RedirectResponse("/?next=%2Fgovernance", status_code=303)
    settings = runtime.settings
    served = [s for s in runtime.topology.subscribers if s.role in settings.console_roles]
    feeds = [
        {
            "role": label(ROLE_LABELS, s.role),
            "organisation": s.organisation,
            "team": s.team,
            "subscriber_id": s.subscriber_id,
            "inside_mash": s.inside_mash,
        }
        for s in sorted(served, key=lambda s: (s.role, s.organisation))
    ]
    policy = settings.session_policy()
    context = page_context(
        request,
        person,
        nav="governance",
        feeds=feeds,
        decision_roles=sorted(label(ROLE_LABELS, r) for r in runtime.decision_roles),
        linkage_roles=sorted(label(ROLE_LABELS, r) for r in runtime.linkage_roles),
        idle_minutes=max(1, int(policy.idle.total_seconds() // 60)),
        absolute_hours=int(policy.absolute.total_seconds() // 3600),
        ig_api_url=settings.ig_api_url,
        has_feed=person.subscriber_id is not None,
    )
    return page(request, "governance.html", context)


async def no_feed_response(request: Request, error: Exception) -> Response:
    """A page or fragment that shows a feed, asked for by someone who reads none: 403, after
    its ACCESS_REFUSED event (NO_FEED_FOR_ROLE). The refusal page links to /governance."""
    assert isinstance(error, NoFeed)
    fragment = error.answer is not SignedOutAnswer.PAGE
    return await refuse(request, error.person, RefusalReason.NO_FEED_FOR_ROLE, fragment=fragment)
