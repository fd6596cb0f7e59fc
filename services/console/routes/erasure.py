"""The console's part in erasure (issue 18), for the erasure job's own client (`erasure-job`,
client credentials, scope `children:erase`; `safehub erasure run`). Not a page: JSON for one
machine client, the way the child index's erase routes are (services/childindex/
erasure_routes.py); people's session routes are untouched.

POST /v1/children/erasures        {"subject_linkage_key": "<64 hex>"}
    Erase the child from every store the console keeps (ConsoleRuntime.erase_child: the
    feed projections, the agency checks and screening ledgers, emergency access grants),
    under that key and every key the child index merged with it (ChildAliases). 200
    `{"store": "console_projection", "erased": n}`, n the feed items, checks, blanked
    decisions and grants that went; 0 for a child already erased or never delivered here (a
    re-run of the job resumes, and a child no MASH feed carried is not an error).
GET  /v1/children/erasures/{key}
    `{"store": "console_projection", "readable": bool}`: whether any of those stores still
    keeps the child's wrapped data key or a row naming the child.

The token is checked before the body is read (the hub's rule: an unauthenticated caller
cannot make the console parse anything): 401/403 per RFC 6750 (hubkit.auth_http), 503 when
no validator is configured or the issuer's keys cannot be fetched. Logs give the client and
counts only, never the key. The stores are called on the event loop, as every console route
calls them: they share one SQLite connection and in-memory caches with the feed followers.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.console.routes.dependencies import Runtime
from services.hubkit.auth import (
    CHILD_ERASE_SCOPE,
    AccessClaims,
    AuthError,
    InsufficientScope,
    JwksUnavailable,
    bearer_token,
)
from services.hubkit.auth_http import auth_error_response
from services.hubkit.problems import problem_response, problem_type_uri

__all__ = ["MAX_BODY_BYTES", "STORE", "install_erasure", "router"]

log = logging.getLogger("safehub.console.erasure")

STORE = "console_projection"
"""The console's name in the retention rules' `stores` and in the audit log's counts."""
MAX_BODY_BYTES = 4096
"""The body is one key: anything larger is refused before it is read whole."""
_KEY = "^[0-9a-f]{64}$"

router = APIRouter(tags=["erasure"])


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_linkage_key: str = Field(pattern=_KEY, description="Any key the child has had.")


async def _eraser(request: Request, runtime: Runtime) -> AccessClaims:
    if runtime.service_tokens is None:
        raise JwksUnavailable("the console has no validator for service clients' tokens")
    claims = await runtime.service_tokens.validate(
        bearer_token(request.headers.get("authorization"))
    )
    if CHILD_ERASE_SCOPE not in claims.scopes:
        raise InsufficientScope(CHILD_ERASE_SCOPE, claims.scopes)
    return claims


Eraser = Annotated[AccessClaims, Depends(_eraser)]


def _refused(status: int, slug: str, title: str, detail: str) -> JSONResponse:
    return problem_response(problem_type_uri(slug), title=title, status=status, detail=detail)


async def _body(request: Request) -> ErasureIn | JSONResponse:
    """The body, read only now (after the token), at most MAX_BODY_BYTES."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            return _refused(
                413, "body-too-large", "Body too large", f"the body is over {MAX_BODY_BYTES} bytes"
            )
    try:
        return ErasureIn.model_validate_json(bytes(data) or b"{}")
    except ValidationError:
        return _refused(
            422,
            "body-invalid",
            "Body invalid",
            'the body must be {"subject_linkage_key": "<64 lowercase hex>"} and nothing else',
        )


@router.post("/v1/children/erasures", summary="Erase a child from the console's stores")
async def erase(request: Request, runtime: Runtime, caller: Eraser) -> Any:
    body = await _body(request)
    if isinstance(body, JSONResponse):
        return body
    keys = sorted(runtime.aliases.group_of(body.subject_linkage_key))
    erased = 0
    for key in keys:
        went = runtime.erase_child(key)
        erased += went.feed_items + went.research_checks + went.decisions_blanked
        erased += went.break_glass_grants
    log.info("client %s: erasure, %d keys, %d things erased", caller.client_id, len(keys), erased)
    return {"store": STORE, "erased": erased}


@router.get("/v1/children/erasures/{child_key}", summary="Is the child still readable here")
async def readable(child_key: str, runtime: Runtime, caller: Eraser) -> Any:
    if not re.fullmatch(_KEY, child_key):
        return _refused(404, "not-found", "Not found", "a child key is 64 lowercase hex characters")
    keys = runtime.aliases.group_of(child_key)
    return {"store": STORE, "readable": any(runtime.child_readable(k) for k in keys)}


def install_erasure(app: FastAPI) -> None:
    """Mount the routes and answer token failures as RFC 6750 problems (app.py)."""
    app.include_router(router)
    app.add_exception_handler(AuthError, auth_error_response)
