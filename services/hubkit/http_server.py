"""uvicorn for a process that runs several servers, or owns its signals itself.

uvicorn's `Server` installs SIGTERM/SIGINT handlers while it serves. Where one loop runs
several servers (the demo, `safehub adapters serve`, test harnesses) or the process has its
own shutdown (the gateway commits what it decided before exiting), those handlers would take
the signal from whoever must act on it; this server leaves signals alone.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping
from typing import Any

import uvicorn

__all__ = ["OpsServer", "SignalFreeServer"]


class SignalFreeServer(uvicorn.Server):
    """A uvicorn server that installs no signal handlers: stop it with `should_exit`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    """uvicorn on a socket bound up front, so port 0 gives a known free port."""

    def __init__(
        self, app: Any, *, host: str, port: int, tls: Mapping[str, Any] | None = None
    ) -> None:
        self._socket = socket.create_server((host, port))
        # `tls`: uvicorn's ssl_certfile/ssl_keyfile (hubkit.tls.server_tls_options): HTTPS only.
        # The process owns SIGTERM/SIGINT (the gateway stops consuming and commits first).
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
