"""Health adapter: thin HTTP edge over FHIR validation and the health mapping (port 18202)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request

from services.adapters.health.checks import bundle_problems
from services.adapters.health.code_lists import HEALTH_CODE_LISTS
from services.adapters.health.mapping import map_fhir_bundle
from services.adapters.health.models import FhirBundle
from services.adapters.ingest.errors import RecordInvalid
from services.adapters.ingest.http import (
    PROBLEM_RESPONSES,
    IngestDep,
    NoticeAccepted,
    build_adapter_app,
)
from services.adapters.ingest.openapi_examples import load_examples
from services.adapters.ingest.problems import FieldError
from services.adapters.ingest.settings import AdapterSettings
from services.hubkit.auth import JwksSource
from services.hubkit.settings import HubSettings

__all__ = ["create_app", "router"]

router = APIRouter(prefix="/v1", tags=["health"])


_BUNDLE_BODY = {"schema": {"$ref": "#/components/schemas/FhirBundle"}}


@router.post(
    "/fhir/Bundle",
    status_code=202,
    response_model=NoticeAccepted,
    responses=PROBLEM_RESPONSES,
    summary="Publish one safeguarding alert as a FHIR R4 Bundle",
    description=(
        "Send a FHIR R4 (UK Core) Bundle of type 'collection' holding one Patient (NHS "
        "number identifier), one Encounter (care setting, time seen, safeguarding-referral "
        "extension) and any Flags / Observations coded in SNOMED CT. Content type "
        "application/fhir+json or application/json. The Bundle is validated as FHIR R4 and "
        "against the hub profile; every problem is reported at once, each with a JSON "
        "pointer. An element the hub does not read (another resource, an unknown extension, "
        "address lines, ...) is refused (element_not_read) rather than accepted and lost; a "
        "Flag's and an Observation's code.text and narrative are clinical detail. Every "
        "element the hub reads has a length or item limit (shown on the schema); all the "
        "clinical detail together is at most 20,000 characters. Answers 202 with the notice "
        "id once the broker acknowledged."
    ),
    # The body is read here rather than by FastAPI, so that the profile's problems come back
    # with the shape's in one answer (checks.py); the schema is still the documented one.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/fhir+json": _BUNDLE_BODY, "application/json": _BUNDLE_BODY},
        }
    },
)
async def post_bundle(request: Request, ingest: IngestDep) -> NoticeAccepted:
    try:
        document: Any = json.loads(await request.body())
    except ValueError as error:
        raise RecordInvalid(
            [
                FieldError(
                    pointer="", code="json_invalid", message=f"body is not valid JSON: {error}"
                )
            ]
        ) from None
    bundle, problems = bundle_problems(document, ingest.context)
    if bundle is None:
        raise RecordInvalid(problems)
    return await ingest.one(bundle, map_fhir_bundle)


def create_app(
    settings: HubSettings,
    adapter: AdapterSettings | None = None,
    *,
    jwks: JwksSource | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    return build_adapter_app(
        agency="HEALTH",
        title="safehub health adapter",
        description=(
            "Accepts safeguarding alerts from NHS systems as FHIR R4 (UK Core) Bundles and "
            "publishes them to the hub as signed safeguarding notices. Clinical detail is "
            "marked CLINICAL so only the MASH health navigator sees it. Authenticate with an "
            "OAuth2 client-credentials access token issued to a HEALTH client."
        ),
        routers=[router],
        examples=load_examples(Path(__file__).with_name("examples.json")),
        extra_schemas=[FhirBundle],
        code_lists=HEALTH_CODE_LISTS,
        settings=settings,
        adapter=adapter,
        jwks=jwks,
        http=http,
    )
