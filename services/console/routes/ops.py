"""Liveness and readiness: ready once every served feed and the child index's linkage
changes have caught up."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from services.console.routes.dependencies import Runtime

__all__ = ["router"]

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: Runtime) -> JSONResponse:
    feeds = {sid: runtime.feed_ready(sid) for sid in runtime.projections}
    linkage = runtime.linkage_ready()
    body = {"ready": all(feeds.values()) and linkage, "feeds": feeds, "linkage": linkage}
    return JSONResponse(body, status_code=200 if body["ready"] else 503)
