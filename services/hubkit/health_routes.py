"""The two probe routes a background service serves (the gateway's ops endpoints, the audit
indexer's): `/healthz` answers 503 once the service is not alive (a restart would help),
`/readyz` 503 while it is not ready; both carry the service's own health document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.responses import JSONResponse

__all__ = ["ServiceHealth", "add_health_routes"]


class ServiceHealth(Protocol):
    @property
    def alive(self) -> bool: ...

    @property
    def ready(self) -> bool: ...

    def as_json(self) -> dict[str, Any]: ...


def add_health_routes(app: FastAPI, health: Callable[[], ServiceHealth]) -> None:
    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        state = health()
        return JSONResponse(state.as_json(), status_code=200 if state.alive else 503)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        state = health()
        return JSONResponse(state.as_json(), status_code=200 if state.ready else 503)
