"""A refusal: 403, after its ACCESS_REFUSED event is on the access topic (or its failure is
logged loudly)."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from services.console.domain.access import (
    RefusalReason,
    access_refused_event,
    well_formed_notice_id,
)
from services.console.domain.people import Person
from services.console.routes.access_log import requester_for, written
from services.console.routes.dependencies import runtime_of
from services.console.routes.rendering import page, page_context

__all__ = ["refuse"]

log = logging.getLogger("safehub.console")


async def refuse(
    request: Request,
    person: Person,
    reason: RefusalReason,
    *,
    notice_id: str | None = None,
    fragment: bool = False,
    signed_in: bool = True,
) -> Response:
    """403 for `person`: the refused page, or an empty body for a fragment. `signed_in` is
    False when the refusal ends a sign-in (the page then shows nobody signed in)."""
    runtime = runtime_of(request)
    record = access_refused_event(
        access_id=runtime.new_id(),
        requester=requester_for(person, runtime.topology),
        reason=reason,
        notice_id=well_formed_notice_id(notice_id) if notice_id else None,
        at=runtime.clock(),
    )
    # The refusal stands either way (nothing was shown); a missing audit record is an
    # operational fault someone must see (the ERROR line).
    await written(
        runtime.refusals,
        record,
        failure="ACCESS_REFUSED access event not written",
        reason=reason.value,
    )
    log.info("access refused", extra={"reason": reason.value, "subject": person.subject})
    if fragment:
        return HTMLResponse("", status_code=403)
    return page(
        request,
        "refused.html",
        page_context(request, person if signed_in else None, reason=reason.value),
        status=403,
    )
