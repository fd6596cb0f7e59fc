"""The child index's one wiring point: settings in, an app out (its FastAPI lifespan reads
the linkage secret and builds the token validator).

What it holds: the linkage secret (read once at start; nothing else in the hub reads it) and
the identity provider's JWKS. It keeps no store: v0 keys deterministically, exactly as the
adapters did before (issue 15 adds matching, a review queue and child context here).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from services.childindex.api import IndexRuntime, install
from services.childindex.secret import load_linkage_secret
from services.childindex.settings import ChildIndexSettings
from services.hubkit.auth import JwksSource, RemoteJwks, TokenValidator
from services.hubkit.settings import HubSettings
from services.hubkit.tls import http_client

__all__ = ["childindex_app"]


def childindex_app(
    hub: HubSettings, settings: ChildIndexSettings, *, jwks: JwksSource | None = None
) -> FastAPI:
    """The index app; `jwks` replaces the remote key set (tests serving the identity app
    in process). Nothing is read until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secret = load_linkage_secret(settings.resolved_secret_path(hub.keys_dir))
        async with contextlib.AsyncExitStack() as stack:
            source = jwks
            if source is None:
                client = http_client(hub)
                stack.push_async_callback(client.aclose)
                source = RemoteJwks(settings.resolved_jwks_url(), client=client)
            app.state.index = IndexRuntime(
                secret=secret,
                validator=TokenValidator(
                    jwks=source,
                    issuer=settings.token_issuer,
                    audience=settings.token_audience,
                    agency_claim=settings.agency_claim,
                ),
                settings=settings,
            )
            yield

    app = FastAPI(
        title="safehub child index",
        description=(
            "Turns the identifiers an agency adapter holds for a child into the child's "
            "pseudonymous linkage key. The hub's linkage secret lives only here. For agency "
            "adapters' own clients (OAuth2 client credentials, scope children:resolve); "
            "the token is checked before the body is read."
        ),
        version="0.1.0",
        lifespan=lifespan,
    )
    install(app)
    return app
