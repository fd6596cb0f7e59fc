"""Voluntary-sector adapter: a minimal JSON form and a CSV upload (port 18204)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import httpx
from fastapi import APIRouter, FastAPI, File, UploadFile
from fastapi.responses import JSONResponse

from services.adapters.ingest.csv_batch import map_each, read_csv
from services.adapters.ingest.http import (
    PROBLEM_RESPONSES,
    BatchReport,
    IngestDep,
    NoticeAccepted,
    build_adapter_app,
)
from services.adapters.ingest.openapi_examples import load_examples
from services.adapters.ingest.settings import AdapterSettings
from services.adapters.voluntary_sector.mapping import map_vcs_update
from services.adapters.voluntary_sector.models import VcsUpdateForm
from services.hubkit.auth import JwksSource
from services.hubkit.settings import HubSettings

__all__ = ["create_app", "router"]

router = APIRouter(prefix="/v1", tags=["voluntary sector"])


@router.post(
    "/updates",
    status_code=202,
    response_model=NoticeAccepted,
    responses=PROBLEM_RESPONSES,
    summary="Publish one update (engagement, concern, return interview, NRM referral)",
    description=(
        "Send one update as JSON. Answers 202 with the notice id once the broker "
        "acknowledged; the same update again answers 202 with the same id."
    ),
)
async def post_update(form: VcsUpdateForm, ingest: IngestDep) -> NoticeAccepted:
    return await ingest.one(form, map_vcs_update)


@router.post(
    "/updates/csv",
    response_model=BatchReport,
    responses=PROBLEM_RESPONSES,
    summary="Upload updates as CSV",
    description=(
        "multipart/form-data with `file`: a UTF-8 CSV whose header names the fields of "
        "schema VcsUpdateForm (list fields take several values separated by ';'). Each row "
        "is validated and published on its own; the answer (200) lists every row's result. "
        "503 when some rows were not acknowledged (retry the file; published rows come back "
        "as duplicates)."
    ),
)
async def upload_updates(
    file: Annotated[
        UploadFile,
        File(
            description="The CSV file (UTF-8, header line first).",
            examples=["reference,kind,recorded_at,given_name,family_name,..."],
        ),
    ],
    ingest: IngestDep,
) -> JSONResponse:
    rows = read_csv(
        await ingest.read_upload(file),
        VcsUpdateForm,
        max_rows=ingest.max_rows,
        max_cell_chars=ingest.max_cell_chars,
    )
    return await ingest.batch(await ingest.keyed(lambda ctx: map_each(rows, map_vcs_update, ctx)))


def create_app(
    settings: HubSettings,
    adapter: AdapterSettings | None = None,
    *,
    jwks: JwksSource | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    return build_adapter_app(
        agency="VOLUNTARY_SECTOR",
        title="safehub voluntary-sector adapter",
        description=(
            "Accepts minimal updates from voluntary-sector organisations (engagement, "
            "concern, return-interview outcome, NRM first-responder referral) as JSON or CSV "
            "and publishes them to the hub as signed safeguarding notices. Authenticate with "
            "an OAuth2 client-credentials access token issued to a VOLUNTARY_SECTOR client."
        ),
        routers=[router],
        examples=load_examples(Path(__file__).with_name("examples.json")),
        settings=settings,
        adapter=adapter,
        jwks=jwks,
        http=http,
    )
