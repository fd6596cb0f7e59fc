"""Agency clients of the local identity provider, as the integration harnesses use them: one
registered client per agency, and an access token by the client-credentials grant with a
private_key_jwt assertion (what an integrator does, docs/integrators.md).

And the child index the adapters ask for children's keys, run in process the way the
identity app is: each adapter's own index client registered (`register_adapter_index_clients`),
the index app started (`start_child_index`), and one outbound client that reaches both the
identity app and the index over ASGI transports (`adapter_outbound`), handed to the adapter
apps as `http=`."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.adapters.ingest.settings import AdapterSettings
from services.childindex.bootstrap import childindex_app
from services.childindex.settings import ChildIndexSettings
from services.gateway.child_context_client import HttpChildContext
from services.hubkit.auth import (
    AUDIT_RETRACTIONS_SCOPE,
    CHILD_CONTEXT_SCOPE,
    RESOLVE_CHILDREN_SCOPE,
    JwksSource,
)
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.jwt_keys import load_key
from services.hubkit.settings import HubSettings
from services.identity.assertions import client_assertion
from services.identity.clients import RegisteredClient, ensure_service_client, register_client
from services.identity.domain import CLIENT_ASSERTION_TYPE
from services.identity.settings import IdentitySettings

__all__ = [
    "CHILD_INDEX_URL",
    "adapter_outbound",
    "adapter_settings",
    "client_credentials_token",
    "register_adapter_index_clients",
    "register_agency_clients",
    "start_child_index",
]

CHILD_INDEX_URL = "http://childindex.test"


def register_agency_clients(
    state_dir: Path, agencies: Iterable[str], *, suffix: str
) -> dict[str, RegisteredClient]:
    """One client per agency, registered under `state_dir`/identity, keys in /integrators."""
    return {
        agency: register_client(
            state_dir=state_dir / "identity",
            keys_out_dir=state_dir / "integrators",
            agency=agency,
            client_id=f"{agency.lower().replace('_', '-')}-{suffix}",
        )
        for agency in agencies
    }


async def client_credentials_token(
    identity: httpx.AsyncClient, identity_settings: IdentitySettings, client: RegisteredClient
) -> str:
    """An access token for `client`, from the identity app behind `identity`."""
    assertion = client_assertion(
        key=load_key(client.private_key_path),
        client_id=client.registration.client_id,
        token_endpoint=identity_settings.token_endpoint,
    )
    response = await identity.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        },
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def adapter_settings(state_dir: Path, identity_settings: IdentitySettings) -> AdapterSettings:
    """Adapters trusting the in-process identity app and asking the in-process child index,
    their stores and index client keys under `state_dir`/adapters."""
    return AdapterSettings(
        token_issuer=identity_settings.issuer,
        state_dir=state_dir / "adapters",
        child_index_url=CHILD_INDEX_URL,
    )


def register_adapter_index_clients(
    state_dir: Path, agencies: Iterable[str], settings: AdapterSettings
) -> None:
    """Each adapter's own client for the child index (adapter-<agency>, children:resolve,
    and audit:retractions as `safehub adapters serve` registers it), its key where the
    adapter looks for it, registered under `state_dir`/identity."""
    for agency in agencies:
        client_id = settings.resolved_child_index_client_id(agency)
        ensure_service_client(
            state_dir=state_dir / "identity",
            private_key_path=settings.resolved_child_index_client_key(state_dir, client_id),
            client_id=client_id,
            agency=agency,
            scopes=(RESOLVE_CHILDREN_SCOPE, AUDIT_RETRACTIONS_SCOPE),
        )


async def start_child_index(
    hub: HubSettings, identity_settings: IdentitySettings, jwks: JwksSource, exits: AsyncExitStack
) -> FastAPI:
    """The child index app, lifespan started (it reads the stack's linkage secret) until
    `exits` closes; tokens checked against the in-process identity app. Its store is new and
    private to this start, so no earlier test (or run) has told it about any child."""
    store_dir = Path(tempfile.mkdtemp(prefix="safehub-childindex-"))
    exits.callback(shutil.rmtree, store_dir, ignore_errors=True)
    index = childindex_app(
        hub,
        ChildIndexSettings(
            token_issuer=identity_settings.issuer, store_path=store_dir / "index.sqlite"
        ),
        jwks=jwks,
    )
    await exits.enter_async_context(index.router.lifespan_context(index))
    return index


def gateway_child_context(
    state_dir: Path, identity_settings: IdentitySettings, outbound: httpx.AsyncClient
) -> HttpChildContext:
    """The gateway's client of the in-process child index, as `build_child_context` makes it
    (its own client `gateway-childindex`, scope children:context), registered with the
    in-process identity app under `state_dir`/identity and reaching both over `outbound`."""
    client_id = "gateway-childindex"
    key_path = state_dir / "gateway" / f"{client_id}.pem"
    ensure_service_client(
        state_dir=state_dir / "identity",
        private_key_path=key_path,
        client_id=client_id,
        agency="HUB",
        scopes=(CHILD_CONTEXT_SCOPE,),
    )
    return HttpChildContext(
        base_url=CHILD_INDEX_URL,
        http=outbound,
        credentials=ClientCredentials(
            http=outbound,
            token_endpoint=identity_settings.token_endpoint,
            client_id=client_id,
            private_key_path=key_path,
            scope=CHILD_CONTEXT_SCOPE,
        ),
        timeout_s=10.0,
    )


def adapter_outbound(
    identity: FastAPI, identity_settings: IdentitySettings, index: FastAPI | None
) -> httpx.AsyncClient:
    """What an adapter reaches the token endpoint and the child index with; any other URL
    (e.g. a child index on a closed port) goes over the network."""
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {
        identity_settings.issuer: httpx.ASGITransport(app=identity)
    }
    if index is not None:
        mounts[CHILD_INDEX_URL] = httpx.ASGITransport(app=index)
    return httpx.AsyncClient(mounts=mounts)
