"""The audit log's part in erasing a child (issue 18), for the erasure job's own client
(`erasure-job`: a client-credentials token for the service audience, as retraction_api.py
checks, with scope `audit:erase`; `safehub erasure run`).

POST /v1/erasures                        INTENT, before anything is deleted
    {erasure_id, subject_linkage_key, record_type, rule, reason, approved_by}
    201 {"erasure_id", "phase": "intent", "leaf_index"}.
POST /v1/erasures/{erasure_id}/deletion  DELETION
    {subject_linkage_key, stores: {name: count}}: erases the child from this store
    (`store.erase_child`: its key and its leaves' openings; the leaves stay, so every proof
    still verifies) and logs every store's count, the audit index's own added.
POST /v1/erasures/{erasure_id}/confirmation  CONFIRMATION
    {subject_linkage_key, stores: {name: "unreadable"}}: checks `store.child_readable` is
    false here too, then logs that nothing of the child opens in any store named.

Each phase is one ERASURE entry (indexer.entry_for_erasure, id `erasure:<id>:<phase>`),
holding the child only as a digest of the store's keyed reference. 409 with `"repeated":
true` for a phase already logged (the job carries on from the next one); 409 with
`"repeated": false` for a phase out of order, or a child key that is not the one the intent
named (compared by digest). The linkage key lives only in the request that needs it; the
actor logged is the approving IG officer, through the job's client.

The token is checked before the body is read (the `Eraser` dependency runs first; each route
reads its body itself, `_body`): a caller without a valid token gets 401/403 and nothing it
sent is parsed. A body that is not the documented JSON then answers 422, one over
MAX_BODY_BYTES 413.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from typing import Annotated, Any, Protocol, TypeVar, cast

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.audit.indexer import (
    ErasureEvent,
    ErasurePhase,
    LogEntry,
    decode_erasure,
    entry_for_erasure,
)
from services.audit.retraction_api import RETRACTION_CLIENTS_STATE
from services.audit.storage import AppendResult, ChildErasure, StoredLeaf
from services.hubkit.auth import (
    AUDIT_ERASE_SCOPE,
    AccessClaims,
    InsufficientScope,
    JwksUnavailable,
    TokenValidator,
    bearer_token,
)

__all__ = ["AUDIT_STORE", "MAX_BODY_BYTES", "erasure_router"]

AUDIT_STORE = "audit_index"
_KEY = "^[0-9a-f]{64}$"
_ORDER = (ErasurePhase.INTENT, ErasurePhase.DELETION, ErasurePhase.CONFIRMATION)
MAX_BODY_BYTES = 64 * 1024
"""A phase's body is a few short fields and one count per store."""
_M = TypeVar("_M", bound=BaseModel)


class _ErasableStore(Protocol):
    """What these routes use of the audit store (storage_sql.SqlAuditStore)."""

    def append(self, entries: list[LogEntry], *, appended_at_ms: int) -> AppendResult: ...

    def leaves_for_entry(self, entry_id: str) -> list[StoredLeaf]: ...

    def erase_child(self, subject_linkage_key: str) -> ChildErasure: ...

    def child_readable(self, subject_linkage_key: str) -> bool: ...

    def child_ref(self, subject_linkage_key: str) -> str: ...


class IntentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    erasure_id: str = Field(pattern="^[A-Za-z0-9._:-]{1,100}$")
    subject_linkage_key: str = Field(pattern=_KEY)
    record_type: str = Field(min_length=1, max_length=100)
    rule: str = Field(max_length=500)
    reason: str = Field(min_length=1, max_length=500)
    approved_by: str = Field(min_length=1, max_length=200)


class DeletionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_linkage_key: str = Field(pattern=_KEY)
    stores: dict[str, int] = Field(description="Items erased in each other store.")


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_linkage_key: str = Field(pattern=_KEY)
    stores: dict[str, str] = Field(description='Each other store\'s answer: "unreadable".')


async def _eraser(request: Request) -> AccessClaims:
    clients: TokenValidator | None = getattr(request.app.state, RETRACTION_CLIENTS_STATE, None)
    if clients is None:
        raise JwksUnavailable("no validator for service clients is configured")
    claims = await clients.validate(bearer_token(request.headers.get("authorization")))
    if AUDIT_ERASE_SCOPE not in claims.scopes:
        raise InsufficientScope(AUDIT_ERASE_SCOPE, claims.scopes)
    return claims


Eraser = Annotated[AccessClaims, Depends(_eraser)]


async def _body(request: Request, model: type[_M]) -> _M | JSONResponse:
    """The body as `model`, read only now: after the token (`Eraser`) was checked."""
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > MAX_BODY_BYTES:
            return JSONResponse(
                {"detail": f"the body is over {MAX_BODY_BYTES} bytes"}, status_code=413
            )
    try:
        return model.model_validate_json(bytes(data) or b"{}")
    except ValidationError as error:
        where = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()
        )
        return JSONResponse(
            {"detail": f"the body is not the documented JSON ({where})"}, status_code=422
        )


def _conflict(detail: str, *, repeated: bool) -> JSONResponse:
    return JSONResponse({"detail": detail, "repeated": repeated}, status_code=409)


def _logged(store: _ErasableStore, erasure_id: str) -> dict[ErasurePhase, dict[str, Any]]:
    """The phases of `erasure_id` the log holds, each entry's JSON."""
    found: dict[ErasurePhase, dict[str, Any]] = {}
    for phase in _ORDER:
        leaves = store.leaves_for_entry(f"erasure:{erasure_id}:{phase.value}")
        if leaves:
            found[phase] = decode_erasure(leaves[0].data)
    return found


def _digest(ref: str) -> str:
    return hashlib.sha256(ref.encode()).hexdigest()


def erasure_router() -> APIRouter:
    router = APIRouter(prefix="/v1/erasures", tags=["erasure"])
    # One erasure step at a time: "is this phase logged yet" and the append are one step.
    lock = asyncio.Lock()

    def append(request: Request, event: ErasureEvent) -> int:
        ctx = request.app.state.ctx
        store = cast(_ErasableStore, ctx.store)
        entry = entry_for_erasure(event)
        store.append([entry], appended_at_ms=ctx.clock_ms())
        return store.leaves_for_entry(entry.entry_id)[0].leaf_index

    def check(
        store: _ErasableStore, erasure_id: str, phase: ErasurePhase, key: str
    ) -> tuple[dict[str, Any], str] | JSONResponse:
        logged = _logged(store, erasure_id)
        if phase in logged:
            return _conflict(f"the {phase.value} of {erasure_id} is already logged", repeated=True)
        before = _ORDER[_ORDER.index(phase) - 1]
        if before not in logged:
            return _conflict(
                f"the {before.value} of {erasure_id} is not logged: phases go intent, "
                "deletion, confirmation",
                repeated=False,
            )
        intent = logged[ErasurePhase.INTENT]
        ref = store.child_ref(key)
        if intent.get("child_ref_digest") != _digest(ref):
            return _conflict(
                f"that is not the child the intent of {erasure_id} named", repeated=False
            )
        return intent, ref

    @router.post("", status_code=201, summary="Log an erasure's intent")
    async def intent(request: Request, caller: Eraser) -> Any:
        body = await _body(request, IntentIn)
        if isinstance(body, JSONResponse):
            return body
        ctx = request.app.state.ctx
        store = cast(_ErasableStore, ctx.store)
        async with lock:
            logged = await run_in_threadpool(_logged, store, body.erasure_id)
            if ErasurePhase.INTENT in logged:
                return _conflict(
                    f"the intent of {body.erasure_id} is already logged", repeated=True
                )
            ref = await run_in_threadpool(store.child_ref, body.subject_linkage_key)
            event = ErasureEvent(
                erasure_id=body.erasure_id,
                phase=ErasurePhase.INTENT,
                at_ms=ctx.clock_ms(),
                actor=f"{body.approved_by} (via {caller.client_id})",
                record_type=body.record_type,
                rule=body.rule,
                child_ref=ref,
                detail=body.reason,
            )
            leaf = await run_in_threadpool(append, request, event)
        return {"erasure_id": body.erasure_id, "phase": "intent", "leaf_index": leaf}

    @router.post("/{erasure_id}/deletion", status_code=201, summary="Erase here; log deletion")
    async def deletion(request: Request, erasure_id: str, caller: Eraser) -> Any:
        body = await _body(request, DeletionIn)
        if isinstance(body, JSONResponse):
            return body
        ctx = request.app.state.ctx
        store = cast(_ErasableStore, ctx.store)
        async with lock:
            checked = await run_in_threadpool(
                check, store, erasure_id, ErasurePhase.DELETION, body.subject_linkage_key
            )
            if isinstance(checked, JSONResponse):
                return checked
            intent, ref = checked
            erased = await run_in_threadpool(store.erase_child, body.subject_linkage_key)
            counts: Mapping[str, int] = {**body.stores, AUDIT_STORE: erased.leaves}
            event = ErasureEvent(
                erasure_id=erasure_id,
                phase=ErasurePhase.DELETION,
                at_ms=ctx.clock_ms(),
                actor=str(intent.get("actor", caller.client_id)),
                record_type=str(intent.get("record_type", "")),
                rule=str(intent.get("rule", "")),
                child_ref=ref,
                stores=counts,
                detail="keys and openings deleted",
            )
            leaf = await run_in_threadpool(append, request, event)
        return {"erasure_id": erasure_id, "phase": "deletion", "leaf_index": leaf, "stores": counts}

    @router.post("/{erasure_id}/confirmation", status_code=201, summary="Check; log confirmation")
    async def confirmation(request: Request, erasure_id: str, caller: Eraser) -> Any:
        body = await _body(request, ConfirmationIn)
        if isinstance(body, JSONResponse):
            return body
        ctx = request.app.state.ctx
        store = cast(_ErasableStore, ctx.store)
        async with lock:
            checked = await run_in_threadpool(
                check, store, erasure_id, ErasurePhase.CONFIRMATION, body.subject_linkage_key
            )
            if isinstance(checked, JSONResponse):
                return checked
            intent, ref = checked
            readable = [name for name, answer in body.stores.items() if answer != "unreadable"]
            if await run_in_threadpool(store.child_readable, body.subject_linkage_key):
                readable.append(AUDIT_STORE)
            if readable:
                return _conflict(
                    f"the child is still readable in {', '.join(sorted(readable))}: not confirmed",
                    repeated=False,
                )
            event = ErasureEvent(
                erasure_id=erasure_id,
                phase=ErasurePhase.CONFIRMATION,
                at_ms=ctx.clock_ms(),
                actor=str(intent.get("actor", caller.client_id)),
                record_type=str(intent.get("record_type", "")),
                rule=str(intent.get("rule", "")),
                child_ref=ref,
                # Counts of what is still readable in each store: none.
                stores=dict.fromkeys([*body.stores, AUDIT_STORE], 0),
                detail="nothing of the child opens in any store named",
            )
            leaf = await run_in_threadpool(append, request, event)
        return {"erasure_id": erasure_id, "phase": "confirmation", "leaf_index": leaf}

    return router
