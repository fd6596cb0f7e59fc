"""/healthz, /readyz and /metrics on a real socket; JSON logs carry no personal data."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx

from services.gateway.http import ops_app
from services.gateway.logs import JsonFormatter, configure_json_logging
from services.gateway.metrics import GatewayMetrics
from services.gateway.service import GatewayHealth
from services.hubkit.http_server import OpsServer


def _health(*, alive: bool, ready: bool) -> GatewayHealth:
    return GatewayHealth(
        alive=alive,
        ready=ready,
        assigned_partitions=3 if ready else 0,
        engine_ok=ready,
        waiting_partitions=0,
    )


async def test_health_readiness_and_metrics_endpoints() -> None:
    state = {"health": _health(alive=True, ready=False)}
    metrics = GatewayMetrics()
    metrics.decisions.labels("mash-manager", "PERMIT").inc()
    metrics.dead_letters.labels("BAD_SIGNATURE").inc()
    server = OpsServer(ops_app(lambda: state["health"], metrics), host="127.0.0.1", port=0)
    serving = asyncio.create_task(server.serve())
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            for _ in range(100):
                try:
                    live = await client.get("/healthz")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.02)
            assert live.status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["engine_ok"] is False
            state["health"] = _health(alive=True, ready=True)
            assert (await client.get("/readyz")).status_code == 200
            state["health"] = _health(alive=False, ready=False)
            assert (await client.get("/healthz")).status_code == 503
            text = (await client.get("/metrics")).text
    finally:
        server.stop()
        await serving
    assert 'safehub_gateway_decisions_total{outcome="PERMIT",subscriber="mash-manager"} 1.0' in text
    assert 'safehub_gateway_dead_letters_total{reason="BAD_SIGNATURE"} 1.0' in text
    for name in (
        "safehub_gateway_notices_consumed",
        "safehub_gateway_decision_latency_seconds",
        "safehub_gateway_consumer_lag",
        "safehub_gateway_engine_failures",
        "safehub_gateway_transactions",
    ):
        assert f"# HELP {name}" in text


def test_json_logs_keep_only_allowlisted_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("safehub.gateway.test-logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        try:
            raise ValueError("Avery Ashdown, born 2015-03-01")  # content must not leak
        except ValueError:
            logger.exception(
                "notice rejected",
                extra={
                    "notice_id": "6f1d3c2e-0000-5000-8000-000000000001",
                    "reason": "BAD_SIGNATURE",
                    "offset": 42,
                    "given_name": "Avery",
                    "view": {"subject": {"family_name": "Ashdown"}},
                },
            )
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "notice rejected"
    assert line["notice_id"] == "6f1d3c2e-0000-5000-8000-000000000001"
    assert line["reason"] == "BAD_SIGNATURE"
    assert line["offset"] == 42
    assert line["exception"] == "ValueError"
    assert "Avery" not in stream.getvalue()
    assert "Ashdown" not in stream.getvalue()


def test_configure_json_logging_routes_the_gateway_logger() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logging.getLogger("safehub").level)
    stream = io.StringIO()
    try:
        configure_json_logging(stream=stream)
        logging.getLogger("safehub.gateway").info("gateway started", extra={"engine": "opa"})
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logging.getLogger("safehub").setLevel(saved[2])
    assert json.loads(stream.getvalue())["engine"] == "opa"
