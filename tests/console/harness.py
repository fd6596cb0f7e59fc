"""Real servers for console tests, in the test's own event loop: the identity provider and
the console under uvicorn on free loopback ports (a browser needs real sockets), wired to
the real broker. Nothing is mocked: sign-in goes through the IdP's form, feeds come from
Kafka, decisions go back through the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from services.console.app import create_app as console_app
from services.console.runtime import ConsoleRuntime, running_console
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from services.identity.app import create_app as identity_app
from services.identity.clients import ensure_signin_client
from services.identity.settings import IdentitySettings
from services.identity.users import (
    DEFAULT_USERS_FILE,
    UserDirectory,
    load_dev_passwords,
    provision_credentials,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Server(uvicorn.Server):
    """One of several servers in a test's loop: no signal handlers of its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


@contextlib.asynccontextmanager
async def serving(app: Any, port: int) -> AsyncIterator[None]:
    server = _Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            ws="none",
            timeout_graceful_shutdown=3,
        )
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(400):
            if server.started or task.done():
                break
            await asyncio.sleep(0.025)
        if task.done():
            task.result()  # re-raise why it did not start
        if not server.started:
            raise RuntimeError(f"server on port {port} did not start")
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=10)


@dataclass(frozen=True)
class ConsoleServers:
    hub: HubSettings
    identity: IdentitySettings
    console: ConsoleSettings
    passwords: dict[str, str]
    restart: Callable[[], Awaitable[None]] | None = field(default=None, repr=False)

    @property
    def console_url(self) -> str:
        return self.console.base_url

    async def restart_console(self) -> None:
        """Stop the console and start a new one (a new app and runtime) on the same port and
        the same store: what a deployment does. The identity provider keeps running."""
        assert self.restart is not None
        await self.restart()


def _with_clock(
    hub: HubSettings, console: ConsoleSettings, clock: Callable[[], dt.datetime]
) -> Callable[[SessionStore], AbstractAsyncContextManager[ConsoleRuntime]]:
    """The real runtime with `clock` injected (ConsoleRuntime.clock): what the pages take as
    'now' (deadlines, out of hours). Sessions and the audit keep real time."""

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        async with running_console(hub, console, sessions=sessions) as built:
            built.clock = clock
            yield built

    return runtime


@contextlib.asynccontextmanager
async def console_servers(
    hub: HubSettings,
    state_dir: Path,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    **console_overrides: Any,
) -> AsyncIterator[ConsoleServers]:
    """The local IdP (state under `state_dir`) and a console registered with it; `clock`, if
    given, is the console's 'now'."""
    identity_port, console_port = free_port(), free_port()
    identity = IdentitySettings(
        issuer=f"http://127.0.0.1:{identity_port}", state_dir=state_dir / "identity"
    )
    console = ConsoleSettings(
        port=console_port,
        base_url=f"http://127.0.0.1:{console_port}",
        issuer=identity.issuer,
        client_key_path=state_dir / "console" / "oidc-client.pem",
        # The console's own database, per test run: it holds the feed projections and
        # their offsets, and two consoles (or two runs) must not share one.
        **{"store_path": state_dir / "console" / "console.sqlite", **console_overrides},
    )
    provision_credentials(state_dir / "identity", UserDirectory.load(DEFAULT_USERS_FILE))
    ensure_signin_client(
        state_dir=state_dir / "identity",
        private_key_path=console.resolved_client_key_path(hub.data_dir),
        client_id=console.client_id,
        agency="MASH",
        redirect_uris=(console.redirect_uri,),
        resources=(console.token_audience,),
    )

    def serve_console() -> AbstractAsyncContextManager[None]:
        runtime = _with_clock(hub, console, clock) if clock else None
        return serving(console_app(hub, console, runtime=runtime), console_port)

    async with (
        serving(identity_app(hub, identity), identity_port),
        contextlib.AsyncExitStack() as console_running,
    ):
        await console_running.enter_async_context(serve_console())

        async def restart() -> None:
            await console_running.aclose()  # the console stops; the stack can be used again
            await console_running.enter_async_context(serve_console())

        yield ConsoleServers(
            hub=hub,
            identity=identity,
            console=console,
            passwords=load_dev_passwords(state_dir / "identity"),
            restart=restart,
        )
