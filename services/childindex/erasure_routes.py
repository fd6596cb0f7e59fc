"""The child index's part in erasure (issue 18), for the erasure job's own client
(`erasure-job`, client credentials, scope `children:erase`; `safehub erasure`):

POST /v1/children/erasures        {"subject_linkage_key": "<64 hex>"}
    Erase the child that key is (every key of its merged group: store.erase_child). 200
    `{"store": "child_index", "erased": n}` with n the keys erased; a child already erased
    answers `"erased": 0` (the job may re-run after a failure); 404 for a key the index
    never made.
GET  /v1/children/erasures/{key}
    `{"store": "child_index", "readable": bool}`: whether the index still holds anything
    about the child (false once erased, and for a key it never made).
POST /v1/retention/due            {"today": "YYYY-MM-DD"?}
    The retention review computed inside the index, the only place that holds dates of birth
    (hubkit.erasure_plan.birth_anchored_due over store.birth_dates): rows `{child_key,
    record_type, due_on}` only for record types already due, and the number of children whose
    records settle no date of birth. No date of birth leaves the index; a due date of a row
    that is due does imply it, which is why only the erasure job's client may ask. Legal holds
    are applied by the job (it names the hold). Every other anchor (case closed, record made,
    death) is an event the index does not hold: it says nothing about those.

Logs give the client and counts only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from services.childindex.api import IndexRuntime
from services.childindex.errors import BodyInvalid, BodyTooLarge, ChildNotFound, RequestRefused
from services.hubkit.auth import CHILD_ERASE_SCOPE, AccessClaims, InsufficientScope, bearer_token
from services.hubkit.erasure_plan import birth_anchored_due
from services.hubkit.retention import RetentionInvalid, RetentionRules

__all__ = ["RULES_STATE", "install_erasure"]

log = logging.getLogger("safehub.childindex.erasure")

STORE = "child_index"
RULES_STATE = "retention_rules"
_KEY = "^[0-9a-f]{64}$"


class RetentionUnavailable(RequestRefused):
    status = 503
    problem = "retention-rules-unavailable"
    title = "Retention rules unavailable"


class ErasureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_linkage_key: str = Field(pattern=_KEY, description="Any key the child has had.")


class DueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    today: dt.date | None = Field(default=None, description="Answer as of this day.")


async def _eraser(request: Request) -> AccessClaims:
    runtime: IndexRuntime = request.app.state.index
    claims = await runtime.validator.validate(bearer_token(request.headers.get("authorization")))
    if CHILD_ERASE_SCOPE not in claims.scopes:
        raise InsufficientScope(CHILD_ERASE_SCOPE, claims.scopes)
    return claims


Eraser = Annotated[AccessClaims, Depends(_eraser)]


async def _body(request: Request, model: type[BaseModel], limit: int) -> Any:
    data = await request.body()
    if len(data) > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes")
    try:
        return model.model_validate_json(data or b"{}")
    except ValueError:
        raise BodyInvalid("the body is not the documented JSON") from None


def _rules(request: Request, policies_dir: Path) -> RetentionRules:
    rules: RetentionRules | None = getattr(request.app.state, RULES_STATE, None)
    if rules is None:
        try:
            rules = RetentionRules.load(policies_dir)
        except RetentionInvalid as error:
            raise RetentionUnavailable(str(error)) from None
        setattr(request.app.state, RULES_STATE, rules)
    return rules


def install_erasure(app: FastAPI, *, policies_dir: Path) -> None:
    """Mount the erasure routes on the index app (bootstrap.py)."""
    router = APIRouter(tags=["erasure"])

    @router.post("/v1/children/erasures", summary="Erase a child from the index")
    async def erase(request: Request, caller: Eraser) -> dict[str, Any]:
        runtime: IndexRuntime = request.app.state.index
        body: ErasureIn = await _body(request, ErasureIn, runtime.settings.max_body_bytes)
        key = body.subject_linkage_key
        state = await asyncio.to_thread(runtime.store.erasure_state, key)
        if state == "unknown":
            raise ChildNotFound("the child index never held a child with that key")
        erased = 0
        if state == "held":
            erased = len(await asyncio.to_thread(runtime.store.erase_child, key))
        log.info("client %s: erasure, %d keys erased", caller.client_id, erased)
        return {"store": STORE, "erased": erased}

    @router.get("/v1/children/erasures/{child_key}", summary="Is the child still readable here")
    async def readable(request: Request, child_key: str, caller: Eraser) -> dict[str, Any]:
        runtime: IndexRuntime = request.app.state.index
        state = await asyncio.to_thread(runtime.store.erasure_state, child_key)
        return {"store": STORE, "readable": state == "held"}

    @router.post("/v1/retention/due", summary="Children whose birth-dated records are due")
    async def due(request: Request, caller: Eraser) -> dict[str, Any]:
        runtime: IndexRuntime = request.app.state.index
        body: DueIn = await _body(request, DueIn, runtime.settings.max_body_bytes)
        rules = _rules(request, policies_dir)
        today = body.today or dt.datetime.now(dt.UTC).date()
        births = await asyncio.to_thread(runtime.store.birth_dates)
        rows, undated = birth_anchored_due(rules, births, today=today)
        log.info("client %s: retention due, %d rows", caller.client_id, len(rows))
        return {
            "today": today.isoformat(),
            "due": [
                {
                    "child_key": r.child_key,
                    "record_type": r.record_type,
                    "due_on": r.due_on.isoformat(),
                }
                for r in rows
            ],
            "children_without_a_settled_date_of_birth": undated,
            "anchors_held": ["DATE_OF_BIRTH"],
        }

    app.include_router(router)
