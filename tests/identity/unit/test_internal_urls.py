"""Behind an ingress: people reach the provider at its public issuer, the hub's services at its
Service. A service's client assertion is addressed to the URL it posts to, so the provider
accepts its internal URLs as itself, and still names only the public issuer in tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.hubkit.jwt_keys import load_key
from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.assertions import client_assertion
from services.identity.clients import RegisteredClient, register_client
from services.identity.domain import CLIENT_ASSERTION_TYPE
from services.identity.settings import IdentitySettings

NOW = 1_800_000_000.0
PUBLIC = "https://identity.safehub.invalid"
INTERNAL = "http://identity"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, RegisteredClient]]:
    state = tmp_path / "identity"
    client = register_client(
        state_dir=state, keys_out_dir=tmp_path / "keys", agency="POLICE", client_id="police-test"
    )
    settings = IdentitySettings(issuer=PUBLIC, internal_urls=(f"{INTERNAL}/",), state_dir=state)
    app = create_app(HubSettings(data_dir=tmp_path), settings, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=INTERNAL) as http:
            yield http, client


async def _token(http: httpx.AsyncClient, client: RegisteredClient, aud: str) -> httpx.Response:
    assertion = client_assertion(
        key=load_key(client.private_key_path),
        client_id=client.registration.client_id,
        token_endpoint=aud,
        now=NOW,
    )
    data = {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": "notices:publish",
    }
    return await http.post("/token", data=data)


@pytest.mark.parametrize("aud", [f"{INTERNAL}/token", INTERNAL, f"{PUBLIC}/token", PUBLIC])
async def test_assertions_to_the_public_or_internal_url_are_accepted(
    served: tuple[httpx.AsyncClient, RegisteredClient], aud: str
) -> None:
    http, client = served
    response = await _token(http, client, aud)
    assert response.status_code == 200, response.text
    claims = jwt.decode(
        response.json()["access_token"], _jwks(await http.get("/.well-known/jwks.json"))
    ).claims
    assert claims["iss"] == PUBLIC  # what browsers see and every service validates


@pytest.mark.parametrize("aud", ["http://elsewhere.invalid/token", "http://identity.other/token"])
async def test_assertions_to_any_other_url_are_refused(
    served: tuple[httpx.AsyncClient, RegisteredClient], aud: str
) -> None:
    http, client = served
    response = await _token(http, client, aud)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


def test_without_internal_urls_only_the_issuer_is_accepted() -> None:
    settings = IdentitySettings(issuer=PUBLIC)
    assert set(settings.assertion_audiences) == {PUBLIC, f"{PUBLIC}/token"}


def _jwks(response: httpx.Response) -> KeySet:
    return KeySet.import_key_set(response.json())
