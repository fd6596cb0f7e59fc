"""The receipt route (issue 19): C2SP tlog-proof receipts for a decision, which a partner or
subscriber checks offline with `safehub audit receipt verify` and the partners' tlog-policy.

    GET /v1/decisions/{decision_id}/receipt
    -> {"format": "safehub.audit.receipts.v1", "decision_id", "tree_size",
        "witnesses": [policy names whose cosignatures met the quorum],
        "receipts": [{"leaf_index", "tlog_proof": "<c2sp.org/tlog-proof@v1 text>",
                      "entry": {entry file, safehub.audit.entry.v1}}]}

The same IG role as the inclusion-proof route, audited before it runs (`audited`). With
witnessing on (`SAFEHUB_AUDIT_WITNESS_POLICY_PATH`) the receipts are against the latest
checkpoint the witnesses cosigned to the policy's quorum (409 until there is one), else
against the latest checkpoint. Unknown decision 404; a leaf not yet checkpointed 409.
"""

# No `from __future__ import annotations`: FastAPI reads the route's annotations at runtime,
# and `Depends(audited)` names a closure variable a string annotation could not resolve.
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from services.audit.domain.witnessing import WitnessPolicy
from services.audit.receipts import decision_receipts

__all__ = ["receipt_router"]


def receipt_router(*, audited: Callable[..., Any], policy: WitnessPolicy | None) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/decisions/{decision_id}/receipt", name="decision_receipt")
    async def decision_receipt(
        request: Request,
        decision_id: str,
        _access: Annotated[Any, Depends(audited)],
    ) -> dict[str, Any]:
        """tlog-proof receipts (and entry files) for every leaf logged under a decision."""
        ctx = request.app.state.ctx
        receipts = await run_in_threadpool(
            decision_receipts,
            ctx.store,
            decision_id,
            cosignatures=ctx.cosignatures,
            policy=policy,
            catalog=ctx.catalog,
        )
        return receipts.to_json()

    return router
