"""The child index's HTTP edge.

Agency adapters (scope children:resolve, agency an adapter's):
POST /v1/children/resolve
    Body: the identifiers an adapter holds for one child (NHS number, given and family name,
    date of birth, postcode, sex, UPN, LA child id; any may be null). 200 `{"child_key":
    "<64 hex>"}`: the child's pseudonymous linkage key, after matching the record against the
    index (store.py, resolution.py). 422 `identifiers-incomplete` when the index could not
    place it (store.require_resolvable). The adapter learns nothing else.
POST /v1/children/resolve-batch
    Body: `{"children": [<identifiers>, ...]}` (at most `max_batch`). 200 `{"results": [...]}`
    in the same order, each `{"child_key": ...}` or `{"child_key": null, "problem":
    "identifiers_incomplete"}`: one call for a CSV upload instead of one per row.
The MASH console (scope children:review):
GET /v1/reviews, GET /v1/reviews/{id}, POST /v1/reviews/{id}/decision
    The review queue: pairs the model is unsure of, with the evidence side by side; a
    person's answer merges them or keeps them apart (404 review-not-found, 409
    review-already-decided).
The audit service and the console (scope children:keys):
GET /v1/children/{child_key}/keys   every key that child has had (404 child-not-found)
The MASH console (scope children:search):
POST /v1/children/search
    Body: the identifiers a person typed (any subset, as for resolve) and `limit`. 200
    `{"matches": [{"child_key", "keys", "score", "strength"}, ...]}`, best first (search.py):
    keys and scores only, never an identifier. 422 `identifiers-incomplete` when the typed
    identifiers are too few to search on. Nothing is stored.
The audit service's prevalence figures (scope children:profile):
POST /v1/children/profiles
    Body: `{"children": [{"child_key": "<64 hex>", "on": "YYYY-MM-DD"}, ...]}` (at most
    `max_batch`). 200 `{"profiles": [{"known", "age_band", "sex"}, ...]}` in the same order:
    the child's age band on that day (hubkit.age_bands codes) and sex (F/M), each null when
    the records do not settle it (demographics.py); `known` false for a key the index never
    made. Never a date of birth.
The gateway (scope children:context):
POST /v1/context   record what a batch's notices said; each child's context
GET /healthz   the process is up (no token)

Every /v1 route needs a bearer access token (client credentials) from the configured issuer;
401 without a valid token, 403 without the route's scope. The token is checked before the
body is read; the body is then read up to `max_body_bytes` (413) and validated (422). Logs
name the client and counts only, never an identifier or a key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.childindex.errors import BodyInvalid, BodyTooLarge, RequestRefused
from services.childindex.settings import ChildIndexSettings
from services.childindex.store import ChildIndexStore
from services.hubkit.auth import (
    CHILD_CONTEXT_SCOPE,
    CHILD_KEYS_SCOPE,
    CHILD_PROFILE_SCOPE,
    CHILD_SEARCH_SCOPE,
    REVIEW_CHILDREN_SCOPE,
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
    "ChildMatchesPublic",
    "ChildSearchIn",
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

    store: ChildIndexStore
    validator: TokenValidator
    settings: ChildIndexSettings
    outbox_ready: asyncio.Event  # set when a change waits to be announced on the bus


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
    sex: Literal["F", "M"] | None = Field(default=None, description="As recorded; null if not.")
    upn: str | None = Field(default=None, max_length=32, description="Unique pupil number.")
    la_child_id: str | None = Field(
        default=None, max_length=64, description="Local authority child id (CIN LAchildID)."
    )

    def identifiers(self) -> ChildIdentifiers:
        return ChildIdentifiers(
            nhs_number=self.nhs_number,
            given_name=self.given_name,
            family_name=self.family_name,
            date_of_birth=self.date_of_birth,
            postcode=self.postcode,
            sex=self.sex,
            upn=self.upn,
            la_child_id=self.la_child_id,
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
        key = await asyncio.to_thread(runtime.store.resolve, caller.agency, body.identifiers())
        runtime.outbox_ready.set()  # a record that bridges two children merges them
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
    results = await asyncio.to_thread(
        _resolve_all, runtime.store, caller.agency, [c.identifiers() for c in body.children]
    )
    runtime.outbox_ready.set()
    incomplete = sum(1 for r in results if r.child_key is None)
    log.info("client %s: %d children, %d incomplete", caller.client_id, len(results), incomplete)
    return ChildKeysPublic(results=results)


def _resolve_all(
    store: ChildIndexStore, agency: str, children: list[ChildIdentifiers]
) -> list[ResolvedChildPublic]:
    results = []
    for identifiers in children:
        try:
            results.append(ResolvedChildPublic(child_key=store.resolve(agency, identifiers)))
        except IdentifiersIncomplete:
            results.append(ResolvedChildPublic(child_key=None, problem="identifiers_incomplete"))
    return results


# -- the other callers: the console (review queue), the gateway (context), audit (keys) ----


def _scoped(scope: str) -> Any:
    """Dependency: a valid token carrying `scope` (each hub service's client has its own)."""

    async def check(request: Request) -> AccessClaims:
        runtime = _runtime(request)
        token = bearer_token(request.headers.get("authorization"))
        claims = await runtime.validator.validate(token)
        if scope not in claims.scopes:
            raise Forbidden(f"this route needs the scope {scope}; the token does not carry it")
        return claims

    return Depends(check)


Reviewer = Annotated[AccessClaims, _scoped(REVIEW_CHILDREN_SCOPE)]
ContextReader = Annotated[AccessClaims, _scoped(CHILD_CONTEXT_SCOPE)]
KeysReader = Annotated[AccessClaims, _scoped(CHILD_KEYS_SCOPE)]
Searcher = Annotated[AccessClaims, _scoped(CHILD_SEARCH_SCOPE)]
ProfileReader = Annotated[AccessClaims, _scoped(CHILD_PROFILE_SCOPE)]


class ChildSearchIn(ChildIdentifiersIn):
    """What a person typed to find a child (any subset), and how many matches at most."""

    limit: int = Field(default=10, ge=1, le=50, description="Most matches answered.")


class ChildMatchPublic(BaseModel):
    child_key: str = Field(description="The child's current key (after merges).")
    keys: list[str] = Field(description="Every key that is now this child, itself included.")
    score: float = Field(
        ge=0, le=1, description="How likely the child is the one searched for (0 to 1)."
    )
    strength: Literal["strong", "possible", "weak"] = Field(
        description="strong: at or above the index's same-child threshold; possible: in its "
        "review band; weak: below."
    )


class ChildMatchesPublic(BaseModel):
    matches: list[ChildMatchPublic] = Field(description="Best first; empty when none.")


class ReviewDecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    same_child: bool = Field(description="True: the two are one child (merge); false: not.")
    decided_by: str = Field(
        min_length=1, max_length=200, description="The MASH staff member's user id."
    )
    rationale: str = Field(min_length=1, max_length=2000, description="Why, in their words.")


class ReviewDecisionPublic(BaseModel):
    review_id: str
    status: Literal["same_child", "not_same_child"]
    child_key: str = Field(description="The surviving key after a merge, else the left key.")


class ChildKeyGroupPublic(BaseModel):
    child_key: str = Field(description="The child's current key (after merges).")
    keys: list[str] = Field(description="Every key that is now this child, itself included.")


class ContextRequestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    observations: list[dict[str, Any]] = Field(
        description="What the batch's notices said (services/hubkit/child_context.py), stored "
        "once per notice_id before the contexts are computed."
    )
    children: list[str] = Field(description="The children (keys) whose context is wanted.")

    def checked_observations(self) -> list[dict[str, Any]]:
        for observation in self.observations:
            for field in ("notice_id", "child_key"):
                if not isinstance(observation.get(field), str) or not observation[field]:
                    raise BodyInvalid(f"every observation needs a {field}")
        return self.observations


reviews_router = APIRouter(prefix="/v1/reviews", tags=["review queue"])


@reviews_router.get("", summary="The review queue: pairs a person must compare")
async def list_reviews(
    request: Request,
    caller: Reviewer,
    status: Literal["open", "decided"] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, list[dict[str, Any]]]:
    store = _runtime(request).store
    return {"reviews": await asyncio.to_thread(store.reviews, status=status, limit=limit)}


@reviews_router.get("/{review_id}", summary="One review, with the evidence side by side")
async def get_review(request: Request, review_id: str, caller: Reviewer) -> dict[str, Any]:
    return await asyncio.to_thread(_runtime(request).store.review, review_id)


@reviews_router.post(
    "/{review_id}/decision",
    response_model=ReviewDecisionPublic,
    openapi_extra=_request_body(ReviewDecisionIn),
    summary="A person's answer: the same child (merge) or not (kept apart; split if merged)",
)
async def decide_review(request: Request, review_id: str, caller: Reviewer) -> ReviewDecisionPublic:
    runtime = _runtime(request)
    body = await _read_body(request, ReviewDecisionIn, runtime.settings.max_body_bytes)
    decision = await asyncio.to_thread(
        runtime.store.decide,
        review_id,
        same_child=body.same_child,
        decided_by=body.decided_by,
        rationale=body.rationale,
    )
    runtime.outbox_ready.set()
    log.info("client %s: review decided (%s)", caller.client_id, decision.status)
    return ReviewDecisionPublic(
        review_id=decision.review_id,
        status=decision.status,  # type: ignore[arg-type]
        child_key=decision.child_key,
    )


@router.get(
    "/{child_key}/keys",
    response_model=ChildKeyGroupPublic,
    summary="Every key one child has had (subject access, merged chronologies)",
)
async def child_keys(request: Request, child_key: str, caller: KeysReader) -> ChildKeyGroupPublic:
    current, keys = await asyncio.to_thread(_runtime(request).store.keys_of, child_key)
    return ChildKeyGroupPublic(child_key=current, keys=keys)


@router.post(
    "/search",
    response_model=ChildMatchesPublic,
    openapi_extra=_request_body(ChildSearchIn),
    summary="The children typed identifiers most likely are (keys and scores only)",
)
async def search(request: Request, caller: Searcher) -> ChildMatchesPublic | JSONResponse:
    runtime = _runtime(request)
    body = await _read_body(request, ChildSearchIn, runtime.settings.max_body_bytes)
    try:
        found = await asyncio.to_thread(
            runtime.store.search,
            body.identifiers(),
            limit=body.limit,
            min_score=runtime.settings.search_min_score,
        )
    except IdentifiersIncomplete as incomplete:
        log.info("client %s: search, identifiers incomplete", caller.client_id)
        return problem_response(
            problem_type_uri("identifiers-incomplete"),
            title="Identifiers incomplete",
            status=422,
            detail=str(incomplete),
        )
    log.info("client %s: search, %d matches", caller.client_id, len(found))
    return ChildMatchesPublic(
        matches=[
            ChildMatchPublic(
                child_key=match.child_key,
                keys=list(match.keys),
                score=match.score,
                strength=match.strength,  # type: ignore[arg-type]
            )
            for match in found
        ]
    )


class ProfileAskedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    child_key: str = Field(
        pattern="^[0-9a-f]{64}$", description="Any key the child has had (merges are followed)."
    )
    on: dt.date = Field(description="The day the age band is for.")


class ProfilesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    children: list[ProfileAskedIn] = Field(description="Answered in the same order.")


class ProfilePublic(BaseModel):
    known: bool = Field(description="False for a key the index never made (then both null).")
    age_band: str | None = Field(
        description="The child's age band on the day (hubkit.age_bands code, e.g. 10_15); "
        "null when the records do not settle the date of birth."
    )
    sex: Literal["F", "M"] | None = Field(
        description="As most of the child's records give it; null when none do or they tie."
    )


class ProfilesPublic(BaseModel):
    profiles: list[ProfilePublic] = Field(description="One per child asked, in request order.")


@router.post(
    "/profiles",
    response_model=ProfilesPublic,
    openapi_extra=_request_body(ProfilesIn),
    summary="Children's age bands and sex, for published figures (never a date of birth)",
)
async def profiles(request: Request, caller: ProfileReader) -> ProfilesPublic:
    runtime = _runtime(request)
    body = await _read_body(request, ProfilesIn, runtime.settings.max_body_bytes)
    if len(body.children) > runtime.settings.max_batch:
        raise BodyTooLarge(
            f"{len(body.children)} children in one request; at most {runtime.settings.max_batch}"
        )
    found = await asyncio.to_thread(
        runtime.store.profiles, [(c.child_key, c.on) for c in body.children]
    )
    log.info("client %s: %d profiles", caller.client_id, len(found))
    return ProfilesPublic(
        profiles=[
            ProfilePublic(known=False, age_band=None, sex=None)
            if p is None
            else ProfilePublic(known=True, age_band=p.age_band, sex=p.sex)  # type: ignore[arg-type]
            for p in found
        ]
    )


context_router = APIRouter(prefix="/v1", tags=["child context"])


@context_router.post(
    "/context",
    openapi_extra=_request_body(ContextRequestIn),
    summary="Record what notices said; each child's context across agencies and keys",
)
async def contexts(request: Request, caller: ContextReader) -> dict[str, Any]:
    runtime = _runtime(request)
    body = await _read_body(request, ContextRequestIn, runtime.settings.max_body_bytes)
    observations = body.checked_observations()
    answer = await asyncio.to_thread(
        runtime.store.observe_and_contexts, observations, body.children
    )
    log.info(
        "client %s: %d observations, %d contexts",
        caller.client_id,
        len(observations),
        len(answer),
    )
    return {"contexts": answer}


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
    app.include_router(reviews_router)
    app.include_router(context_router)
