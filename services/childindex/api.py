"""The child index's HTTP edge.

POST /v1/children/resolve
    Body: the identifiers an adapter holds for one child (NHS number, given and family name,
    date of birth, postcode; any may be null). 200 `{"child_key": "<64 hex>"}`: the child's
    pseudonymous linkage key. 422 `identifiers-incomplete` when neither a valid NHS number
    nor all four of name, family name, date of birth and postcode were given.
POST /v1/children/resolve-batch
    Body: `{"children": [<identifiers>, ...]}` (at most `max_batch`). 200 `{"results": [...]}`
    in the same order, each `{"child_key": ...}` or `{"child_key": null, "problem":
    "identifiers_incomplete"}`: one call for a CSV upload instead of one per row.
GET /healthz   the process is up (no token)

Every /v1 route needs a bearer access token (client credentials) from the configured issuer
whose agency is an agency adapter's and which carries the `children:resolve` scope: 401
without a valid token, 403 for any other client (an integrator's token included). The token
is checked before the body is read; the body is then read up to `max_body_bytes` (413) and
validated (422). Logs name the client and counts only, never an identifier or a key.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.childindex.domain import child_key
from services.childindex.errors import BodyInvalid, BodyTooLarge, RequestRefused
from services.childindex.settings import ChildIndexSettings
from services.hubkit.auth import (
    AccessClaims,
    AuthError,
    Forbidden,
    TokenValidator,
    authorise_agency,
    bearer_token,
)
from services.hubkit.auth_http import auth_error_response
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete
from services.hubkit.problems import problem_response, problem_type_uri

__all__ = [
    "ChildIdentifiersIn",
    "ChildKeyPublic",
    "ChildKeysPublic",
    "IndexRuntime",
    "ResolveBatchIn",
    "install",
    "router",
]

log = logging.getLogger("safehub.childindex")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class IndexRuntime:
    """What the routes need, built once by the lifespan (bootstrap.py)."""

    secret: bytes
    validator: TokenValidator
    settings: ChildIndexSettings


class ChildIdentifiersIn(BaseModel):
    """The identifiers held for one child, as held: the index normalises them."""

    model_config = ConfigDict(extra="forbid")

    nhs_number: str | None = Field(
        default=None,
        max_length=64,
        description="NHS number, any spacing; used alone when modulus-11 valid.",
        examples=["943 476 5919"],
    )
    given_name: str | None = Field(default=None, max_length=500, examples=["Avery"])
    family_name: str | None = Field(default=None, max_length=500, examples=["Testchild"])
    date_of_birth: dt.date | None = Field(default=None, examples=["2014-03-09"])
    postcode: str | None = Field(
        default=None,
        max_length=64,
        description="Full postcode or district; only the district is used.",
        examples=["ZZ1 1AA"],
    )

    def identifiers(self) -> ChildIdentifiers:
        return ChildIdentifiers(
            nhs_number=self.nhs_number,
            given_name=self.given_name,
            family_name=self.family_name,
            date_of_birth=self.date_of_birth,
            postcode=self.postcode,
        )


class ResolveBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    children: list[ChildIdentifiersIn] = Field(
        description="The children to key, in any order; answered in the same order."
    )


class ChildKeyPublic(BaseModel):
    child_key: str = Field(
        description="The child's pseudonymous linkage key (HMAC-SHA-256, 64 hex characters): "
        "the notice's subject.linkage_key and its record key.",
        examples=["5afe" + "0" * 60],
    )


class ResolvedChildPublic(BaseModel):
    child_key: str | None = Field(description="The key; null when the identifiers were incomplete.")
    problem: Literal["identifiers_incomplete"] | None = Field(
        default=None, description="Why there is no key; null when there is one."
    )


class ChildKeysPublic(BaseModel):
    results: list[ResolvedChildPublic] = Field(description="One per child, in request order.")


def _runtime(request: Request) -> IndexRuntime:
    runtime: IndexRuntime = request.app.state.index
    return runtime


async def _authorised(request: Request) -> AccessClaims:
    """An agency adapter's client with the resolve scope; raises AuthError (401/403/503)."""
    runtime = _runtime(request)
    claims = await runtime.validator.validate(bearer_token(request.headers.get("authorization")))
    if claims.agency not in runtime.settings.allowed_agencies:
        raise Forbidden(
            f"a client of agency {claims.agency} may not ask for children's keys; only agency "
            f"adapters' clients may ({', '.join(runtime.settings.allowed_agencies)})"
        )
    return authorise_agency(claims, agency=claims.agency, scope=runtime.settings.required_scope)


Caller = Annotated[AccessClaims, Depends(_authorised)]
"""Route parameter: the authorised adapter. No route declares a body parameter, so FastAPI
reads nothing of the body before this has run; the route reads it (`_read_body`) after."""


async def _read_body(request: Request, model: type[M], limit: int) -> M:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the body is over {limit} bytes; send fewer children per request")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes; send fewer children per request")
    try:
        return model.model_validate_json(bytes(data))
    except ValidationError as error:
        where = "; ".join(
            f"/{'/'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()[:5]
        )
        raise BodyInvalid(f"the body is not the documented JSON ({where})") from None


def _request_body(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI for a body the route reads itself (after the token check)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


_AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "No valid access token."},
    403: {"description": "Not an agency adapter's client with the children:resolve scope."},
    413: {"description": "Body over the size limit."},
    422: {"description": "Body invalid, or (single child) identifiers incomplete."},
    503: {"description": "The token issuer's keys cannot be fetched now; retry."},
}

router = APIRouter(prefix="/v1/children", tags=["children"])


@router.post(
    "/resolve",
    response_model=ChildKeyPublic,
    responses=_AUTH_RESPONSES,
    openapi_extra=_request_body(ChildIdentifiersIn),
    summary="The pseudonymous key of one child",
)
async def resolve(request: Request, caller: Caller) -> ChildKeyPublic | JSONResponse:
    runtime = _runtime(request)
    body = await _read_body(request, ChildIdentifiersIn, runtime.settings.max_body_bytes)
    try:
        key = child_key(runtime.secret, body.identifiers())
    except IdentifiersIncomplete as incomplete:
        log.info("client %s: 1 child, identifiers incomplete", caller.client_id)
        return problem_response(
            problem_type_uri("identifiers-incomplete"),
            title="Identifiers incomplete",
            status=422,
            detail=str(incomplete),
        )
    log.info("client %s: 1 child keyed", caller.client_id)
    return ChildKeyPublic(child_key=key)


@router.post(
    "/resolve-batch",
    response_model=ChildKeysPublic,
    responses=_AUTH_RESPONSES,
    openapi_extra=_request_body(ResolveBatchIn),
    summary="The pseudonymous keys of several children, in request order",
)
async def resolve_batch(request: Request, caller: Caller) -> ChildKeysPublic:
    runtime = _runtime(request)
    body = await _read_body(request, ResolveBatchIn, runtime.settings.max_body_bytes)
    if len(body.children) > runtime.settings.max_batch:
        raise BodyTooLarge(
            f"{len(body.children)} children in one request; at most {runtime.settings.max_batch}"
        )
    results = [_resolved(runtime.secret, child.identifiers()) for child in body.children]
    incomplete = sum(1 for r in results if r.child_key is None)
    log.info("client %s: %d children, %d incomplete", caller.client_id, len(results), incomplete)
    return ChildKeysPublic(results=results)


def _resolved(secret: bytes, identifiers: ChildIdentifiers) -> ResolvedChildPublic:
    try:
        return ResolvedChildPublic(child_key=child_key(secret, identifiers))
    except IdentifiersIncomplete:
        return ResolvedChildPublic(child_key=None, problem="identifiers_incomplete")


def _on_refused(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestRefused)
    return problem_response(
        problem_type_uri(error.problem), title=error.title, status=error.status, detail=str(error)
    )


def install(app: FastAPI) -> None:
    """Routes and error handlers on `app` (its lifespan sets `app.state.index`)."""
    app.add_exception_handler(AuthError, auth_error_response)
    app.add_exception_handler(RequestRefused, _on_refused)

    @app.get("/healthz", tags=["operations"], summary="Liveness check (no token needed)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(router)
