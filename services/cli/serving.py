"""Serving one service's app from the CLI: uvicorn with the hub's TLS settings, lifespan on."""

from __future__ import annotations

from typing import Any

__all__ = ["serve_app"]


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
