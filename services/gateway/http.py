"""/healthz, /readyz and /metrics, served next to the consume loop in the same event loop.

/healthz: the consume loop is turning (liveness). /readyz: assigned at least one partition
and the policy engine gave a usable answer last time it was asked (readiness).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Response

from services.gateway.metrics import CONTENT_TYPE, GatewayMetrics
from services.gateway.service import GatewayHealth
from services.hubkit.health_routes import add_health_routes

__all__ = ["ops_app"]


def ops_app(health: Callable[[], GatewayHealth], metrics: GatewayMetrics) -> FastAPI:
    app = FastAPI(title="safehub gateway", docs_url=None, redoc_url=None, openapi_url=None)

    add_health_routes(app, health)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app
