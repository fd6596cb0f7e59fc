"""The session's own requests: "Stay signed in", and how long the session has left.

POST /session/keepalive  activity (the idle warning's "Stay signed in" button, and typing in a
                         form: console.js sends it at most once a minute while someone types,
                         so a long rationale does not time out). CSRF-checked. With script:
                         JSON {"seconds_left": ...}; without: back to the page it came from.
GET  /live/session       how long the session has left, without counting as activity (under
                         /live/, sessions.py): a page checks it before warning, since another
                         tab may have kept the session alive.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.console.domain.links import safe_return_path
from services.console.routes.dependencies import MaybePerson
from services.console.routes.forms import csrf_ok
from services.console.sessions import session_control

__all__ = ["router"]

router = APIRouter()


def _left(request: Request) -> JSONResponse:
    left = session_control(request.scope).seconds_left or 0.0
    return JSONResponse(
        {"signed_in": True, "seconds_left": round(left, 1)},
        headers={"Cache-Control": "no-store"},
    )


_SIGNED_OUT = {"signed_in": False, "seconds_left": 0}


@router.post("/session/keepalive")
async def keepalive(request: Request, person: MaybePerson) -> Response:
    if person is None:
        return JSONResponse(_SIGNED_OUT, status_code=401)
    form = await request.form()
    if not csrf_ok(request, form.get("csrf_token")):
        return JSONResponse({"error": "form expired"}, status_code=403)
    if request.headers.get("accept", "").startswith("application/json"):
        return _left(request)
    # Without script, the button is a plain form: back to the page, which now counts afresh.
    back = form.get("return_to")
    target = safe_return_path(back) or "/"
    return RedirectResponse(target, status_code=303)


@router.get("/live/session")
async def time_left(request: Request, person: MaybePerson) -> Response:
    if person is None:
        return JSONResponse(_SIGNED_OUT, status_code=401)
    return _left(request)
