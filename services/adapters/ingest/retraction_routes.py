"""`POST /v1/retractions` and `GET /v1/retractions/{retraction_id}` on every adapter app.

Mounted by `build_adapter_app` (services/adapters/ingest/http.py), which hands in its own
authorisation dependency: the same token checks as the record routes (the guard middleware
checks a POST's token before its body is read, and limits the body). The work is the
`RetractionDesk`'s (services/adapters/ingest/retractions.py), built in the app's lifespan.
"""

# No `from __future__ import annotations`: the routes are defined inside a function and
# FastAPI must see their `Annotated[..., Depends(authorised)]` parameters as objects, not as
# strings naming a local.

from collections.abc import Callable
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Request

from services.adapters.ingest.retractions import (
    RetractionAccepted,
    RetractionDesk,
    RetractionReceipts,
    RetractionRequest,
)
from services.hubkit.auth import AccessClaims

__all__ = ["retraction_router"]


def _desk(request: Request) -> RetractionDesk:
    return cast(RetractionDesk, request.app.state.retractions)


def retraction_router(
    authorised: Callable[..., Any], problems: Callable[[str], dict[str, Any]]
) -> APIRouter:
    """The retraction routes; `authorised` is the app's dependency answering the caller's
    validated claims (401/403/503 otherwise), `problems` documents a problem response."""
    router = APIRouter(prefix="/v1", tags=["retractions"])
    Claims = Annotated[AccessClaims, Depends(authorised)]

    @router.post(
        "/retractions",
        status_code=202,
        response_model=RetractionAccepted,
        responses={
            401: problems("No, expired or invalid access token (nothing published)."),
            403: problems("The token is for another agency or lacks the publish scope."),
            404: problems("This adapter published no notice with that source reference."),
            409: problems(
                "The notice cannot be withdrawn as asked: the corrected record is not "
                "published yet (send it first), the notice was already withdrawn for another "
                "reason, or it was published before retractions were supported."
            ),
            413: problems("The request body is over the size limit (nothing published)."),
            422: problems("The request is invalid; `errors` lists every field-level problem."),
            503: problems("The broker or the token issuer is unavailable; retry later."),
        },
        summary="Withdraw a notice this agency published (wrong child, in error, corrected)",
        description=(
            "Withdraws a notice this adapter published for the agency, named by the source "
            "reference the notice carries. The hub delivers the withdrawal to exactly the "
            "recipients the original was disclosed to (it is never re-decided) and their "
            "consoles show the item as withdrawn; the audit record of the original "
            "disclosure is kept. For CORRECTED, send the corrected record first (its own "
            "reference or revision) and name it in replaced_by_source_reference. The "
            "withdrawal is signed with the agency's key and published after the original, "
            "on its partition. Sending the same retraction again answers 202 with the same "
            "retraction id and publishes nothing. Answers 202 once the broker acknowledged."
        ),
    )
    async def post_retraction(
        body: RetractionRequest, request: Request, claims: Claims
    ) -> RetractionAccepted:
        return await _desk(request).retract(body, client_id=claims.client_id)

    @router.get(
        "/retractions/{retraction_id}",
        response_model=RetractionReceipts,
        responses={
            401: problems("No, expired or invalid access token."),
            403: problems("The token is for another agency or lacks the publish scope."),
            404: problems("This adapter published no retraction with that id."),
            422: problems("The retraction id is longer than any retraction id."),
            503: problems(
                "The audit service (problem type audit-unavailable) is not configured, "
                "unreachable or refused the adapter; or the token issuer is unavailable."
            ),
        },
        summary="Who a withdrawal was delivered to, and who has acknowledged it",
        description=(
            "The audit service's record of one retraction this adapter published: every "
            "recipient of the original it was delivered to, the desks that acknowledged it "
            "(with the role of the person), and those that have not yet. The lists are empty "
            "until the hub has delivered the withdrawal."
        ),
    )
    async def get_retraction(
        retraction_id: Annotated[
            str,
            Path(
                max_length=64,
                description="The retraction id POST /v1/retractions answered with.",
                examples=["9b1e7d0c-2a4f-5c3e-8d6b-1f0a2e3c4d5e"],
            ),
        ],
        request: Request,
        claims: Claims,
    ) -> RetractionReceipts:
        return await _desk(request).receipts(retraction_id)

    return router
