"""Children's services adapter: case-system JSON and SSDA903 CSV uploads (port 18203)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, File, Form, UploadFile
from fastapi.responses import JSONResponse

from services.adapters.childrens_services.mapping import (
    map_csc_nrm_referral,
    map_csc_record,
    map_ssda903_rows,
)
from services.adapters.childrens_services.models import (
    CscNrmReferral,
    CscRecord,
    Ssda903MissingRow,
)
from services.adapters.ingest.csv_batch import read_csv
from services.adapters.ingest.http import (
    PROBLEM_RESPONSES,
    BatchReport,
    IngestDep,
    NoticeAccepted,
    build_adapter_app,
)
from services.adapters.ingest.models import ContactPointIn
from services.adapters.ingest.openapi_examples import load_examples
from services.adapters.ingest.settings import AdapterSettings
from services.hubkit.auth import JwksSource
from services.hubkit.settings import HubSettings

__all__ = ["create_app", "router"]

router = APIRouter(prefix="/v1", tags=["children's services"])


@router.post(
    "/cin-records",
    status_code=202,
    response_model=NoticeAccepted,
    responses=PROBLEM_RESPONSES,
    summary="Publish one case-system status change",
    description=(
        "Send one record in Children in Need census vocabulary. `record_type` selects the "
        "shape: CIN_REFERRAL, CP_PLAN, LOOKED_AFTER or S47. Answers 202 with the notice id "
        "once the broker acknowledged, with `warnings` for anything left out (an assessment "
        "factor that is not a census factor); the same record again answers 202 with the "
        "same id."
    ),
)
async def post_cin_record(record: CscRecord, ingest: IngestDep) -> NoticeAccepted:
    return await ingest.one(record, map_csc_record)


@router.post(
    "/nrm-referrals",
    status_code=202,
    response_model=NoticeAccepted,
    responses=PROBLEM_RESPONSES,
    summary="Publish an NRM referral the authority made as first responder",
    description=(
        "Send one National Referral Mechanism referral of a child, made by the local "
        "authority as first responder; `record_id` is the source reference. It becomes a "
        "TRAFFICKING_NRM notice: police, the responsible local authority (and the placing "
        "authority of a looked-after child) and the MASH manager see the child's account; "
        "others in the MASH see a flag (rule R12). The notice names "
        "`contact_point.organisation` as the first responder; `primary_need` and "
        "`allocated_worker` are refused (an NRM notice has no place for them). Consent is not "
        "needed for a child's referral. Answers 202 with the notice id once the broker "
        "acknowledged; the same referral again answers 202 with the same id; a correction "
        "goes with `revision` incremented."
    ),
)
async def post_nrm_referral(record: CscNrmReferral, ingest: IngestDep) -> NoticeAccepted:
    return await ingest.one(record, map_csc_nrm_referral)


@router.post(
    "/ssda903/missing-episodes",
    response_model=BatchReport,
    responses=PROBLEM_RESPONSES,
    summary="Upload SSDA903 missing episodes (CSV)",
    description=(
        "multipart/form-data with `file`: a UTF-8 CSV whose header names the columns of "
        "schema Ssda903MissingRow (CHILD, MISSING, MIS_START, MIS_END, then the hub "
        "columns). Each row is validated and published on its own: the answer (200) lists "
        "every row's result, with `warnings` for a published row that lacks something (e.g. "
        "no MIS_END_TIME: no return interview due time); good rows are published even when "
        "others are rejected. 503 "
        "when some rows were not acknowledged by the broker (retry the file: published rows "
        "come back as duplicates)."
    ),
)
async def upload_ssda903(
    file: Annotated[
        UploadFile,
        File(
            description="The CSV file (UTF-8, header line first).",
            examples=["CHILD,MISSING,MIS_START,MIS_END,GIVEN_NAME,FAMILY_NAME,DOB,..."],
        ),
    ],
    contact_role: Annotated[
        str,
        Form(
            min_length=1,
            description="Team to contact about these episodes.",
            examples=["Children in care team"],
        ),
    ],
    contact_telephone: Annotated[
        str,
        Form(
            min_length=5,
            description="That team's telephone number.",
            examples=["0300 000 0300"],
        ),
    ],
    ingest: IngestDep,
    contact_email: Annotated[
        str | None,
        Form(description="That team's secure mailbox.", examples=["cic@synthetic-borough.example"]),
    ] = None,
) -> JSONResponse:
    contact = ContactPointIn(
        role=contact_role,
        organisation=ingest.context.organisation_name,
        telephone=contact_telephone,
        secure_email=contact_email,
    )
    rows = read_csv(
        await ingest.read_upload(file),
        Ssda903MissingRow,
        max_rows=ingest.max_rows,
        max_cell_chars=ingest.max_cell_chars,
    )
    items = await ingest.keyed(lambda ctx: map_ssda903_rows(rows, ctx, contact_point=contact))
    return await ingest.batch(items)


def create_app(
    settings: HubSettings,
    adapter: AdapterSettings | None = None,
    *,
    jwks: JwksSource | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    return build_adapter_app(
        agency="CHILDRENS_SERVICES",
        title="safehub children's services adapter",
        description=(
            "Accepts children's social care records in CIN census vocabulary (referrals, "
            "child protection plans, looked-after status, s47), NRM referrals the authority "
            "made as first responder, and SSDA903 missing-episode CSV uploads, and publishes "
            "them to the hub as signed safeguarding notices. "
            "Authenticate with an OAuth2 client-credentials access token issued to a "
            "CHILDRENS_SERVICES client."
        ),
        routers=[router],
        examples=load_examples(Path(__file__).with_name("examples.json")),
        settings=settings,
        adapter=adapter,
        jwks=jwks,
        http=http,
        extra_schemas=[Ssda903MissingRow],
    )
