"""Serving one service's app from the CLI: its --host/--port flags applied to its settings,
then uvicorn with the hub's TLS settings, lifespan on."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["listen_overrides", "serve_app"]


def listen_overrides(
    args: argparse.Namespace, *, host_field: str = "host", port_field: str = "port"
) -> dict[str, Any]:
    """The settings a `serve` command's --host and --port flags set, keyed by the service
    settings' field names. A flag left out (or given empty or 0) sets nothing, so the
    environment or the settings' default applies."""
    overrides: dict[str, Any] = {}
    if args.host:
        overrides[host_field] = args.host
    if args.port:
        overrides[port_field] = args.port
    return overrides


async def serve_app(
    app: Any, *, hub: Any, host: str, port: int, log_level: str = "info", **config: Any
) -> None:
    """Serve `app` until stopped (Ctrl-C / SIGTERM): HTTPS when the hub's settings give a
    certificate (hubkit.tls), plain HTTP otherwise. `config`: further uvicorn settings."""
    import uvicorn

    from services.hubkit.tls import server_tls_options

    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level=log_level,
            lifespan="on",
            ws="none",
            **config,
            **server_tls_options(hub),
        )
    )
    await server.serve()
