"""The real adapters behind a real uvicorn server on a loopback port, for attacks over HTTP.

The four adapter apps (police and children's services: JSON records; health: FHIR Bundles;
voluntary sector: JSON and CSV uploads) are served by uvicorn exactly as `safehub adapters
serve` does, lifespan and all, so their producers connect to the real broker. uvicorn runs
as a task in the session's event loop (pytest-asyncio session loop) rather than in a thread:
the identity app the adapters fetch their JWKS from is served in process over httpx's ASGI
transport, which is bound to this loop, and so is the child index they get children's keys
from (with their own client credential, as in production). Requests still cross a real TCP
socket and uvicorn's real HTTP parser.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from services.adapters.childrens_services.app import create_app as csc_app
from services.adapters.health.app import create_app as health_app
from services.adapters.ingest.settings import AdapterSettings
from services.adapters.police.app import create_app as police_app
from services.adapters.voluntary_sector.app import create_app as vcs_app
from services.childindex.secret import provision_linkage_secret
from services.hubkit.auth import RemoteJwks
from services.hubkit.envelope import provision_keys
from services.hubkit.http_server import SignalFreeServer
from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology
from services.identity.app import create_app as identity_app
from services.identity.clients import RegisteredClient
from services.identity.settings import IdentitySettings
from tests.adapters.clients import (
    adapter_outbound,
    adapter_settings,
    client_credentials_token,
    register_adapter_index_clients,
    register_agency_clients,
    start_child_index,
)

# A fresh reference space per session: the broker outlives test runs.
RUN = f"S{time.time_ns() % 10**10:010d}"
AGENCIES = ("POLICE", "VOLUNTARY_SECTOR", "HEALTH", "CHILDRENS_SERVICES")


@dataclass
class Served:
    """Base URLs of the served adapters, and tokens for their clients."""

    urls: dict[str, str]
    identity: httpx.AsyncClient
    identity_settings: IdentitySettings
    clients: dict[str, RegisteredClient]
    settings: AdapterSettings
    hub: HubSettings
    jwks: RemoteJwks
    state: Path
    outbound: httpx.AsyncClient
    """What the adapters reach the identity app and the child index with."""
    _tokens: dict[str, str] = field(default_factory=dict)

    async def token(self, agency: str) -> str:
        if agency not in self._tokens:
            self._tokens[agency] = await client_credentials_token(
                self.identity, self.identity_settings, self.clients[agency]
            )
        return self._tokens[agency]


def _loopback_socket() -> socket.socket:
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are
    # TCP, and without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve_app(app: FastAPI, stack: AsyncExitStack) -> str:
    """Serve another app (e.g. an adapter configured differently) until `stack` closes."""
    return await _serve(app, stack)


async def _serve(app: FastAPI, stack: AsyncExitStack) -> str:
    sock = _loopback_socket()
    server = SignalFreeServer(uvicorn.Config(app, lifespan="on", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def stop() -> None:
        server.should_exit = True
        await task
        sock.close()

    stack.push_async_callback(stop)
    while not server.started:
        if task.done():
            task.result()  # startup failed: raise its error here
            raise RuntimeError("uvicorn stopped during startup")
        await asyncio.sleep(0.05)
    host, port = sock.getsockname()
    return f"http://{host}:{port}"


@pytest.fixture(scope="session")
async def served(
    stack: HubSettings, topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    settings = stack
    provision_keys(settings.keys_dir, [topology.agency(a).principal for a in AGENCIES])
    provision_linkage_secret(settings.keys_dir / "linkage.secret")
    state = tmp_path_factory.mktemp("security")
    identity_settings = IdentitySettings(
        issuer="http://identity.test", state_dir=state / "identity"
    )
    clients = register_agency_clients(state, AGENCIES, suffix="sec")
    adapters_settings = adapter_settings(state, identity_settings)
    register_adapter_index_clients(state, AGENCIES, adapters_settings)
    async with AsyncExitStack() as exits:
        identity = identity_app(settings, identity_settings)
        await exits.enter_async_context(identity.router.lifespan_context(identity))
        identity_http = await exits.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=identity), base_url=identity_settings.issuer
            )
        )
        jwks = RemoteJwks(identity_settings.jwks_uri, client=identity_http)
        index = await start_child_index(settings, identity_settings, jwks, exits)
        outbound = await exits.enter_async_context(
            adapter_outbound(identity, identity_settings, index)
        )
        factories = {
            "POLICE": police_app,
            "VOLUNTARY_SECTOR": vcs_app,
            "HEALTH": health_app,
            "CHILDRENS_SERVICES": csc_app,
        }
        urls = {
            agency: await _serve(
                factory(settings, adapters_settings, jwks=jwks, http=outbound), exits
            )
            for agency, factory in factories.items()
        }
        yield Served(
            urls=urls,
            identity=identity_http,
            identity_settings=identity_settings,
            clients=clients,
            settings=adapters_settings,
            hub=settings,
            jwks=jwks,
            state=state,
            outbound=outbound,
        )
