"""The event stream a page listens on: something changed in this person's feed. It does not
count as activity (sessions.py), and ends when the session does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import Response
from sse_starlette import EventSourceResponse

from services.console.domain.projection import Applied, Change
from services.console.domain.views import queue_row
from services.console.routes.dependencies import SignedInStream, Viewer
from services.console.sessions import session_control

__all__ = ["router"]

router = APIRouter()


@router.get("/live/events")
async def events(viewer: SignedInStream) -> Response:
    runtime = viewer.runtime
    sid = session_control(viewer.request.scope).sid
    subscriber_id = viewer.person.subscriber_id
    assert subscriber_id is not None  # SignedInStream refuses people without a feed
    ping_s = runtime.settings.sse_ping_s

    async def stream() -> AsyncIterator[dict[str, str]]:
        last = runtime.sessions.load(sid, touch=False) if sid else None
        async with runtime.changes.listen(subscriber_id) as changes:
            yield {"event": "hello", "data": "{}"}
            while True:
                try:
                    change = await asyncio.wait_for(changes.get(), timeout=ping_s)
                except TimeoutError:
                    change = None
                record = runtime.sessions.load(sid, touch=False) if sid else None
                if record is None:
                    # Timed out, or ended elsewhere (signed out in another tab): the page says
                    # which, whichever of this stream and its own idle timer notices first.
                    timed_out = last is not None and runtime.sessions.seconds_left(last) <= 0
                    reason = "idle" if timed_out else "ended"
                    yield {"event": "signed-out", "data": json.dumps({"reason": reason})}
                    return
                last = record
                if change is None:
                    yield {"event": "ping", "data": "{}"}
                    continue
                yield {"event": "change", "data": _change_payload(viewer, change)}

    return EventSourceResponse(stream(), headers={"Cache-Control": "no-store"})


def _change_payload(viewer: Viewer, change: Change) -> str:
    """What the page needs to know: which child (as the child index now groups it), and a
    line for screen readers. No names, no content: the page re-fetches what it shows through
    the normal, checked routes."""
    runtime, projection = viewer.runtime, viewer.projection
    entry = projection.get(change.notice_id)
    announce = ""
    if entry is not None and change.applied is Applied.NEW:
        row = queue_row(
            entry,
            projection,
            now=runtime.clock(),
            timescales=runtime.timescales,
            agencies=runtime.agencies,
        )
        announce = row.announcement
    return json.dumps(
        {
            "kind": change.applied.value,
            "child": viewer.handle_for(change.linkage_key),
            "announce": announce,
        }
    )
