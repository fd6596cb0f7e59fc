"""Police adapter: thin HTTP edge over the police mapping (port 18201 locally)."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from services.adapters.ingest.http import (
    PROBLEM_RESPONSES,
    IngestDep,
    NoticeAccepted,
    build_adapter_app,
)
from services.adapters.ingest.openapi_examples import load_examples
from services.adapters.ingest.settings import AdapterSettings
from services.adapters.police.mapping import map_police_nrm_referral, map_police_record
from services.adapters.police.models import PoliceNrmReferral, PoliceRecord
from services.hubkit.auth import JwksSource
from services.hubkit.settings import HubSettings

__all__ = ["create_app", "router"]

router = APIRouter(prefix="/v1", tags=["police"])


@router.post(
    "/occurrences",
    status_code=202,
    response_model=NoticeAccepted,
    responses=PROBLEM_RESPONSES,
    summary="Publish one occurrence export record",
    description=(
        "Send one record from an occurrence export, keyed on the occurrence reference. "
        "`record_type` selects the shape: PUBLIC_PROTECTION_NOTICE, DASH_INCIDENT, "
        "MISSING_PERSON or INTELLIGENCE_REPORT. A field the record type has no place for "
        "(subject.school_urn except on a DASH_INCIDENT) is refused, never dropped (422 "
        "unexpected_field); a 422 lists every problem of the record at once. "
        "Answers 202 with the notice id only after "
        "the hub's broker acknowledged the signed notice, with `warnings` for any value the "
        "notice was published without (e.g. an unreadable school URN). Sending the same "
        "record again answers 202 with the same id and publishes nothing new; sending "
        "different content under the same reference and revision answers 409."
    ),
)
async def post_occurrence(record: PoliceRecord, ingest: IngestDep) -> NoticeAccepted:
    return await ingest.one(record, map_police_record)


@router.post(
    "/nrm-referrals",
    status_code=202,
    response_model=NoticeAccepted,
    responses=PROBLEM_RESPONSES,
    summary="Publish an NRM referral the force made as first responder",
    description=(
        "Send one National Referral Mechanism referral of a child, made by the force as "
        "first responder, keyed on the occurrence reference (source reference "
        "`<occurrence reference>/NRM`). It becomes a TRAFFICKING_NRM notice: police, the "
        "responsible local authority and the MASH manager see the child's account; others "
        "in the MASH see a flag (rule R12). The notice names `officer_contact.organisation` "
        "as the first responder. Consent is not needed for a child's referral. "
        "Answers 202 with the notice id once the broker acknowledged; the same referral again "
        "answers 202 with the same id; a correction goes with `revision` incremented."
    ),
)
async def post_nrm_referral(record: PoliceNrmReferral, ingest: IngestDep) -> NoticeAccepted:
    return await ingest.one(record, map_police_nrm_referral)


def create_app(
    settings: HubSettings,
    adapter: AdapterSettings | None = None,
    *,
    jwks: JwksSource | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    return build_adapter_app(
        agency="POLICE",
        title="safehub police adapter",
        description=(
            "Accepts police occurrence exports (public protection notices, DASH incidents, "
            "missing-person records, graded intelligence) and NRM referrals the force made "
            "as first responder, and publishes them to the hub as "
            "signed safeguarding notices. Authenticate with an OAuth2 client-credentials "
            "access token issued to a POLICE client."
        ),
        routers=[router],
        examples=load_examples(Path(__file__).with_name("examples.json")),
        settings=settings,
        adapter=adapter,
        jwks=jwks,
        http=http,
    )
