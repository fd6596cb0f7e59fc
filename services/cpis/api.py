"""The CP-IS lookup's HTTP edge (rule R13: unscheduled care sees plan type, dates and the LA
contact only, by lookup when the child presents; every access notifies the owning LA).

GET /cpis/children/{nhs_number}?setting=ED|MIU
    Needs a bearer access token (checked against the identity provider's JWKS) whose roles
    include UNSCHEDULED_CARE_CLINICIAN and which names the clinician's organisation. The
    token is checked before anything of the request is read.
    200  the CP-IS minimum: each plan held (type, start, end, responsible LA contact) and the
         last 25 accesses (when, setting, organisation; never who). The owning LA is sent a
         signed HEALTH_SAFEGUARDING_ALERT on notices.cpis.v1.
    404  no plan held: says nothing else (recorded without the NHS number; nobody notified)
    401  no or bad token;  403  not an unscheduled care clinician (recorded);
    422  NHS number invalid (modulus 11), setting missing or not an unscheduled care setting
         the hub can record;  503  the identity provider's keys or the register unavailable
GET  /cpis/children/{nhs_number}/break-glass   what an emergency access form may offer
POST /cpis/children/{nhs_number}/break-glass   ask for withheld plan detail now (202)
GET  /cpis/break-glass/{request_id}             the answer; granted content after its view
                                                 is audited (issue 18, README "Emergency access")
GET /healthz   the process is up
GET /readyz    the register has caught up with its feed (503 until then)

Routes decode the request, call the service layer (`service.py`), render.
Run: `safehub cpis serve` (http://127.0.0.1:18206/docs).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from services.cpis import emergency
from services.cpis.domain.access import CpisRecord
from services.cpis.domain.emergency import EmergencyOffer
from services.cpis.domain.requests import parse_nhs_number, parse_setting
from services.cpis.errors import (
    CpisError,
    EmergencyAccessError,
    EmergencyRequestRefused,
    RequestInvalid,
    StoreError,
)
from services.cpis.service import CpisRuntime, look_up, refuse
from services.hubkit.auth import (
    AuthError,
    Forbidden,
    PersonClaims,
    bearer_token,
)
from services.hubkit.auth_http import auth_error_response
from services.hubkit.problems import problem_response, problem_type_uri

__all__ = [
    "AccessPublic",
    "CpisRecordPublic",
    "PlanPublic",
    "create_app",
]

log = logging.getLogger("safehub.cpis")


class PlanPublic(BaseModel):
    plan_type: Literal["CHILD_PROTECTION_PLAN", "LOOKED_AFTER"] = Field(
        description="CP-IS plan type: a child protection plan, or looked after."
    )
    plan_start: dt.date
    plan_end: dt.date | None = Field(description="null while the plan is open.")
    responsible_la_contact: str = Field(
        description="Who to contact at the local authority that owns the plan."
    )


class AccessPublic(BaseModel):
    accessed_at: dt.datetime
    setting: str = Field(description="Unscheduled care setting, e.g. ED.")
    organisation: str = Field(description="Organisation code of the setting.")
    organisation_name: str | None = Field(description="Its name, when the hub knows it.")


class CpisRecordPublic(BaseModel):
    """The CP-IS minimum and nothing else."""

    nhs_number: str
    plans: list[PlanPublic]
    accesses: list[AccessPublic] = Field(
        description="The last 25 accesses to this child's CP-IS record, newest first "
        "(this one included). Clinicians are never named."
    )


def _render(record: CpisRecord) -> CpisRecordPublic:
    return CpisRecordPublic(
        nhs_number=record.nhs_number,
        plans=[
            PlanPublic(
                plan_type=p.plan_type.value,
                plan_start=p.start,
                plan_end=p.end,
                responsible_la_contact=p.responsible_la_contact,
            )
            for p in record.plans
        ],
        accesses=[
            AccessPublic(
                accessed_at=a.at,
                setting=a.setting,
                organisation=a.organisation,
                organisation_name=a.organisation_name,
            )
            for a in record.accesses
        ],
    )


# ---------------------------------------------------------------------------------------------
# Dependencies: the token first, before any parameter is read.


def _rt(request: Request) -> CpisRuntime:
    runtime: CpisRuntime = request.app.state.runtime
    return runtime


Runtime = Annotated[CpisRuntime, Depends(_rt)]


async def _person(request: Request, rt: Runtime) -> PersonClaims:
    return await rt.validator.validate(bearer_token(request.headers.get("authorization")))


class RoleRequired(Forbidden):
    def __init__(self, role: str) -> None:
        super().__init__(f"a CP-IS lookup needs the {role} role (unscheduled care, rule R13)")


class OrganisationRequired(Forbidden):
    def __init__(self) -> None:
        super().__init__(
            "the token names no organisation; an access is recorded, and the local authority "
            "notified, with the organisation where the child presented"
        )


@dataclass(frozen=True, slots=True)
class _Clinician:
    person: PersonClaims
    organisation: str


async def _clinician(rt: Runtime, person: Annotated[PersonClaims, Depends(_person)]) -> _Clinician:
    """The clinician and their organisation; anyone else is refused, and that is recorded."""
    if rt.clinician_role not in person.roles:
        await _record_refusal(rt, person)
        raise RoleRequired(rt.clinician_role)
    if not person.organisation:
        await _record_refusal(rt, person)
        raise OrganisationRequired()
    return _Clinician(person, person.organisation)


async def _record_refusal(rt: CpisRuntime, person: PersonClaims) -> None:
    try:
        await refuse(rt, person=person)
    except StoreError as error:
        # The refusal stands either way (nothing was shown); the missing record is an
        # operational fault someone must see.
        log.error("refused CP-IS access not recorded", extra={"error": type(error).__name__})


Clinician = Annotated[_Clinician, Depends(_clinician)]

router = APIRouter(tags=["CP-IS lookup"])

_NOT_FOUND = {"detail": "Not Found"}


@router.get(
    "/cpis/children/{nhs_number}",
    response_model=CpisRecordPublic,
    name="look_up_child",
    summary="Look a child up by NHS number at presentation in unscheduled care",
    responses={
        401: {"description": "No or bad access token."},
        403: {"description": "Not an unscheduled care clinician (the refusal is recorded)."},
        404: {"description": "No CP-IS plan is held. Nothing else is said."},
        422: {"description": "NHS number or setting not acceptable; the detail says why."},
        503: {"description": "The identity provider's keys or the register are unavailable."},
    },
)
async def look_up_child(
    rt: Runtime,
    clinician: Clinician,
    nhs_number: Annotated[
        str, Path(description="10 digits, modulus-11 valid; spaces or hyphens allowed.")
    ],
    setting: Annotated[
        str,
        Query(
            description="Where the child presented: ED (emergency department) or MIU (minor "
            "injuries unit).",
            examples=["ED"],
        ),
    ],
) -> CpisRecordPublic | JSONResponse:
    record = await look_up(
        rt,
        clinician=clinician.person,
        organisation=clinician.organisation,
        nhs_number=parse_nhs_number(nhs_number),
        setting=parse_setting(setting),
    )
    if record is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    return _render(record)


# ---------------------------------------------------------------------------------------------
# Emergency access (issue 18): the clinician's side of break-glass. Same token check first.


class EmergencyAsk(BaseModel):
    """POST body: why, in the rules' terms and the clinician's words, and what."""

    model_config = ConfigDict(extra="forbid")

    setting: str = Field(description="Where the child presented: ED or MIU.")
    reason: str = Field(description="One of the reasons GET .../break-glass lists.")
    justification: str = Field(description="Why this is needed now, in the clinician's words.")
    paths: list[str] = Field(description="Some of the paths GET .../break-glass offers.")


def _offer_body(rt: CpisRuntime, offer: EmergencyOffer) -> dict[str, object]:
    return {
        "paths": [{"path": p, "label": rt.field_labels.get(p, p)} for p in offer.paths],
        "reasons": [{"reason": code, "words": words} for code, words in offer.reasons],
        "grant_hours": offer.grant_hours,
        "justification_max_chars": offer.justification_max_chars,
    }


@router.get(
    "/cpis/children/{nhs_number}/break-glass",
    name="emergency_access_offer",
    summary="What an emergency access form may offer for this child",
    responses={404: {"description": "No plan held."}, 409: {"description": "Nothing grantable."}},
)
async def emergency_access_offer(
    rt: Runtime, clinician: Clinician, nhs_number: Annotated[str, Path()]
) -> JSONResponse:
    offer = await emergency.offer(
        rt, clinician=clinician.person, nhs_number=parse_nhs_number(nhs_number)
    )
    if offer is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    return JSONResponse(_offer_body(rt, offer))


@router.post(
    "/cpis/children/{nhs_number}/break-glass",
    name="ask_emergency_access",
    summary="Ask for withheld plan detail now (emergency access)",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": EmergencyAsk.model_json_schema()}},
        }
    },
    responses={
        404: {"description": "No plan held. Nothing else is said."},
        409: {"description": "Nothing withheld may be given to this role."},
        422: {"description": "Reason, paths or justification not allowed: the rules' words."},
        503: {"description": "The request could not be sent to the hub."},
    },
)
async def ask_emergency_access(
    request: Request, rt: Runtime, clinician: Clinician, nhs_number: Annotated[str, Path()]
) -> JSONResponse:
    # The body is read only here, after the token (the Clinician dependency) was checked.
    try:
        body = EmergencyAsk.model_validate_json(await request.body())
    except ValidationError as error:
        where = ", ".join(".".join(str(p) for p in e["loc"]) or "body" for e in error.errors())
        raise EmergencyRequestRefused(
            f"the request body needs setting, reason, justification and paths ({where})"
        ) from None
    child = parse_nhs_number(nhs_number)
    try:
        parse_setting(body.setting)
    except RequestInvalid as error:
        raise EmergencyRequestRefused(error.reason) from None
    asked = await emergency.ask(
        rt,
        clinician=clinician.person,
        nhs_number=child,
        reason=body.reason,
        justification=body.justification,
        paths=body.paths,
    )
    if asked is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    return JSONResponse(
        {
            "request_id": asked.request_id,
            "status": "waiting",
            "requested_paths": list(asked.paths),
            **_offer_body(rt, asked.offer),
        },
        status_code=202,
    )


# Times as the lookup renders them (pydantic: ISO 8601, "Z" for UTC).
_ANSWER: TypeAdapter[dict[str, object]] = TypeAdapter(dict[str, object])


@router.get(
    "/cpis/break-glass/{request_id}",
    name="emergency_access_answer",
    summary="The answer to this clinician's emergency access request",
    responses={
        404: {"description": "No such request of this clinician."},
        503: {"description": "The view could not be audited: nothing is shown."},
    },
)
async def emergency_access_answer(
    rt: Runtime, clinician: Clinician, request_id: Annotated[str, Path()]
) -> JSONResponse:
    answer = await emergency.status(rt, clinician=clinician.person, request_id=request_id)
    if answer is None:
        return JSONResponse(_NOT_FOUND, status_code=404)
    return JSONResponse(_ANSWER.dump_python(answer, mode="json"))


# ---------------------------------------------------------------------------------------------
# Errors and wiring


def _cpis_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, CpisError)
    if isinstance(error, EmergencyAccessError):
        return problem_response(
            problem_type_uri(error.slug),
            title=error.title,
            status=error.status,
            detail=error.reason,
            headers={"Retry-After": "5"} if error.status == 503 else None,
        )
    if isinstance(error, RequestInvalid):
        where = "path" if error.parameter == "nhs_number" else "query"
        body = {"detail": [{"loc": [where, error.parameter], "msg": error.reason}]}
        return JSONResponse(body, status_code=422)
    status = 503 if isinstance(error, StoreError) else 500
    return JSONResponse({"detail": error.reason}, status_code=status)


def create_app(runtime: Callable[[], AbstractAsyncContextManager[CpisRuntime]]) -> FastAPI:
    """The app around a runtime, entered at start-up and left at shutdown
    (`bootstrap.cpis_app` passes the real one, `running_cpis`)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime() as rt:
            app.state.runtime = rt
            yield

    app = FastAPI(
        title="safehub CP-IS lookup",
        description=__doc__,
        version="1",
        lifespan=lifespan,
    )
    app.add_exception_handler(AuthError, auth_error_response)
    app.add_exception_handler(CpisError, _cpis_error)

    @app.middleware("http")
    async def no_store(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Answers name children: never cached by a browser or proxy.
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz(rt: Runtime) -> JSONResponse:
        ready = rt.ready()
        return JSONResponse(
            {"status": "ready" if ready else "catching up with the register feed"},
            status_code=200 if ready else 503,
        )

    app.include_router(router)
    return app
