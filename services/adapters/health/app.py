"""Health adapter: thin HTTP edge over FHIR validation and the health mapping (port 18202)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request

from services.adapters.health.mapping import map_fhir_bundle
from services.adapters.health.models import FhirBundle
from services.adapters.health.validation import fhir_errors
from services.adapters.ingest.errors import RecordInvalid
from services.adapters.ingest.http import (
    PROBLEM_RESPONSES,
    IngestDep,
    NoticeAccepted,
    build_adapter_app,
)
from services.adapters.ingest.settings import AdapterSettings
from services.hubkit.auth import JwksSource
from services.hubkit.settings import HubSettings

__all__ = ["create_app", "router"]

router = APIRouter(prefix="/v1", tags=["health"])


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
        "against the hub profile; every problem is reported with a JSON pointer. Every "
        "element the hub reads has a length or item limit (shown on the schema); all the "
        "clinical detail together (Observation valueString and note text) is at most 20,000 "
        "characters. Answers 202 with the notice id once the broker acknowledged."
    ),
)
async def post_bundle(bundle: FhirBundle, request: Request, ingest: IngestDep) -> NoticeAccepted:
    document: Any = await request.json()
    errors = fhir_errors(document)
    if errors:
        raise RecordInvalid(errors)
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
        settings=settings,
        adapter=adapter,
        jwks=jwks,
        http=http,
    )
