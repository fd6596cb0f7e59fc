"""Agency clients of the local identity provider, as the integration harnesses use them: one
registered client per agency, and an access token by the client-credentials grant with a
private_key_jwt assertion (what an integrator does, docs/integrators.md)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import httpx

from services.identity.assertions import client_assertion
from services.identity.clients import RegisteredClient, register_client
from services.identity.domain import CLIENT_ASSERTION_TYPE
from services.identity.keys import load_key
from services.identity.settings import IdentitySettings

__all__ = ["client_credentials_token", "register_agency_clients"]


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
