"""/healthz, /readyz and /metrics, served next to the consume loop in the same event loop.

/healthz: the consume loop is turning (liveness). /readyz: assigned at least one partition
and the policy engine gave a usable answer last time it was asked (readiness).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any

import uvicorn
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse

from services.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from services.gateway.service import GatewayHealth
from services.hubkit.http_server import SignalFreeServer

__all__ = ["OpsServer", "ops_app"]


def ops_app(health: Callable[[], GatewayHealth], metrics: GatewayMetrics) -> FastAPI:
    app = FastAPI(title="safehub gateway", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        state = health()
        return JSONResponse(state.as_json(), status_code=200 if state.alive else 503)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        state = health()
        return JSONResponse(state.as_json(), status_code=200 if state.ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app


class OpsServer:
    """uvicorn on a socket bound up front, so port 0 gives a known free port."""

    def __init__(
        self, app: Any, *, host: str, port: int, tls: Mapping[str, Any] | None = None
    ) -> None:
        self._socket = socket.create_server((host, port))
        # `tls`: uvicorn's ssl_certfile/ssl_keyfile (hubkit.tls.server_tls_options): HTTPS only.
        # The gateway owns SIGTERM/SIGINT: it stops consuming and commits before exiting.
        self._server = SignalFreeServer(
            uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", **(tls or {}))
        )

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    async def serve(self) -> None:
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            self._socket.close()

    def stop(self) -> None:
        self._server.should_exit = True
