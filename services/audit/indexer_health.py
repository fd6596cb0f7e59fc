"""The indexer's health routes, served next to its consume loop in the same event loop, so a
Deployment can probe a process that otherwise serves nothing (`safehub audit index`).

/healthz (liveness): the loop is turning, or it is waiting on a store write it keeps retrying
(a database outage is not cured by a restart: the retry resumes by itself). 503 only when the
loop has not come round for `STALL_AFTER_S` without such a reason: a stuck process.
/readyz (readiness): started (store checked, consumer and producer up), the loop turned
recently and the last store write committed.

`indexer_health` is pure: the loop's own state and the time in, the answer out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import FastAPI

from services.hubkit.health_routes import add_health_routes
from services.hubkit.http_server import OpsServer

__all__ = [
    "STALL_AFTER_S",
    "IndexerHealth",
    "LoopState",
    "indexer_health",
    "indexer_ops_app",
    "run_with_health_routes",
]

STALL_AFTER_S = 120.0
"""A turn of the loop is one poll (poll_timeout_ms, 0.5 s by default), at most one batch
written and, every checkpoint_interval_s, a checkpoint; two minutes without one is a hang."""


@dataclass(frozen=True, slots=True)
class LoopState:
    """What the consume loop reports about itself (monotonic seconds)."""

    started: bool
    turned_at: float | None
    write_failing: bool


@dataclass(frozen=True, slots=True)
class IndexerHealth:
    alive: bool
    ready: bool
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"alive": self.alive, "ready": self.ready, "reason": self.reason}


def indexer_health(
    state: LoopState, *, now: float, stall_after_s: float = STALL_AFTER_S
) -> IndexerHealth:
    if not state.started or state.turned_at is None:
        return IndexerHealth(alive=True, ready=False, reason="starting")
    if state.write_failing:
        return IndexerHealth(alive=True, ready=False, reason="retrying a store write")
    if now - state.turned_at > stall_after_s:
        return IndexerHealth(alive=False, ready=False, reason="the consume loop has stalled")
    return IndexerHealth(alive=True, ready=True, reason="indexing")


def indexer_ops_app(health: Callable[[], IndexerHealth]) -> FastAPI:
    app = FastAPI(title="safehub audit indexer", docs_url=None, redoc_url=None, openapi_url=None)

    add_health_routes(app, health)

    return app


class _Indexer(Protocol):
    def loop_state(self) -> LoopState: ...


async def run_with_health_routes(
    indexer: _Indexer,
    run: Callable[[], Awaitable[None]],
    *,
    host: str,
    port: int,
    tls: Mapping[str, Any] | None = None,
    clock: Callable[[], float],
) -> None:
    """Serve the health routes while `run()` (the indexer until signalled) runs; stop them
    when it returns. The socket is bound first, so a port in use fails before anything else
    (OSError, which the CLI reports in one line)."""
    app = indexer_ops_app(lambda: indexer_health(indexer.loop_state(), now=clock()))
    server = OpsServer(app, host=host, port=port, tls=tls)
    serving = asyncio.create_task(server.serve())
    try:
        await run()
    finally:
        server.stop()
        await serving
