"""The child index and the identity provider in process (ASGI, no network, no broker), for
tests that call the index over HTTP with each caller's own client-credentials token. Clients
are registered by the test (ensure_service_client / the console's register_local_client)
under the identity provider's default state dir for `hub`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx

from services.childindex.bootstrap import childindex_app
from services.childindex.settings import ChildIndexSettings
from services.hubkit.auth import RemoteJwks
from services.hubkit.settings import HubSettings
from services.identity.app import create_app as identity_app
from services.identity.settings import IdentitySettings

__all__ = ["index_and_identity"]


@asynccontextmanager
async def index_and_identity(
    hub: HubSettings, *, store_path: Path, index_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    """One client reaching the identity provider (its issuer URL) and the index (`index_url`),
    both started with their lifespans until the context ends. The index announces nothing."""
    identity_settings = IdentitySettings()
    async with AsyncExitStack() as stack:
        identity = identity_app(hub, identity_settings)
        await stack.enter_async_context(identity.router.lifespan_context(identity))
        to_identity = httpx.ASGITransport(app=identity)
        jwks_http = await stack.enter_async_context(
            httpx.AsyncClient(transport=to_identity, base_url=identity_settings.issuer)
        )
        index = childindex_app(
            hub,
            ChildIndexSettings(token_issuer=identity_settings.issuer, store_path=store_path),
            jwks=RemoteJwks(identity_settings.jwks_uri, client=jwks_http),
            announce=False,
        )
        await stack.enter_async_context(index.router.lifespan_context(index))
        yield await stack.enter_async_context(
            httpx.AsyncClient(
                mounts={
                    identity_settings.issuer: to_identity,
                    index_url: httpx.ASGITransport(app=index),
                }
            )
        )
