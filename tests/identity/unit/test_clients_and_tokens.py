"""The local token endpoint: client credentials with private_key_jwt, JWKS, discovery."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.hubkit.auth import RemoteJwks, TokenValidator, authorise_agency
from services.hubkit.jwt_keys import generate_key, load_key
from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.assertions import client_assertion
from services.identity.clients import RegisteredClient, register_client
from services.identity.domain import CLIENT_ASSERTION_TYPE
from services.identity.settings import IdentitySettings

NOW = 1_800_000_000.0
SETTINGS = IdentitySettings(issuer="http://identity.test")


@dataclass
class Env:
    http: httpx.AsyncClient
    client: RegisteredClient
    state_dir: Path

    def assertion(self, **overrides: Any) -> str:
        arguments: dict[str, Any] = {
            "key": load_key(self.client.private_key_path),
            "client_id": self.client.registration.client_id,
            "token_endpoint": SETTINGS.token_endpoint,
            "now": NOW,
            **overrides,
        }
        return client_assertion(**arguments)

    async def token(self, **form: str) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            **form,
        }
        data.setdefault("client_assertion", self.assertion())
        return await self.http.post("/token", data=data)


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    state = tmp_path / "identity"
    client = register_client(
        state_dir=state, keys_out_dir=tmp_path / "keys", agency="POLICE", client_id="police-test"
    )
    settings = SETTINGS.model_copy(update={"state_dir": state})
    app = create_app(HubSettings(data_dir=tmp_path), settings, clock=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SETTINGS.issuer) as http:
            yield Env(http, client, state)


async def test_client_credentials_token_validates_against_the_jwks(env: Env) -> None:
    response = await env.token(scope="notices:publish")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "notices:publish"
    validator = TokenValidator(
        jwks=RemoteJwks(SETTINGS.jwks_uri, client=env.http),
        issuer=SETTINGS.issuer,
        audience="safehub-ingest",
        clock=lambda: NOW,
    )
    claims = authorise_agency(await validator.validate(body["access_token"]), agency="POLICE")
    assert claims.client_id == "police-test"
    assert claims.expires_at == NOW + SETTINGS.token_ttl_s


async def test_discovery_document(env: Env) -> None:
    document = (await env.http.get("/.well-known/openid-configuration")).json()
    assert document["issuer"] == SETTINGS.issuer
    assert document["token_endpoint"] == SETTINGS.token_endpoint
    # "none" only for public command-line clients of the device grant (test_device_grant.py).
    assert document["token_endpoint_auth_methods_supported"] == ["private_key_jwt", "none"]
    # People sign in with the authorization-code grant (tests/console/unit/test_oidc_provider.py)
    # or, at a command line, the device grant.
    assert document["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    ]
    jwks = (await env.http.get("/.well-known/jwks.json")).json()
    assert all("d" not in key for key in jwks["keys"])  # public keys only


async def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


async def test_replayed_assertion_is_refused(env: Env) -> None:
    assertion = env.assertion()
    assert (await env.token(client_assertion=assertion)).status_code == 200
    assert await _error(await env.token(client_assertion=assertion)) == (401, "invalid_client")


@pytest.mark.parametrize(
    "overrides",
    [
        {"now": NOW - 600},  # expired
        {"lifetime_s": 3600},  # too long-lived
        {"token_endpoint": "http://elsewhere.test/token"},  # wrong audience
    ],
)
async def test_bad_assertions_are_invalid_client(env: Env, overrides: dict[str, Any]) -> None:
    assertion = env.assertion(**overrides)
    assert await _error(await env.token(client_assertion=assertion)) == (401, "invalid_client")


async def test_assertion_signed_with_another_key_is_refused(env: Env) -> None:
    forged = client_assertion(
        key=generate_key(),
        client_id="police-test",
        token_endpoint=SETTINGS.token_endpoint,
        now=NOW,
    )
    assert await _error(await env.token(client_assertion=forged)) == (401, "invalid_client")


async def test_unknown_client(env: Env) -> None:
    assertion = client_assertion(
        key=generate_key(), client_id="nobody", token_endpoint=SETTINGS.token_endpoint, now=NOW
    )
    assert await _error(await env.token(client_assertion=assertion)) == (401, "invalid_client")


async def test_protocol_errors(env: Env) -> None:
    assert await _error(await env.token(grant_type="password")) == (400, "unsupported_grant_type")
    assert await _error(await env.token(scope="admin")) == (400, "invalid_scope")
    assert await _error(await env.token(client_assertion_type="basic")) == (401, "invalid_client")
    assert await _error(await env.token(client_id="health-test")) == (401, "invalid_client")
    repeated = await env.http.post(
        "/token",
        content=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert await _error(repeated) == (400, "invalid_request")
    as_json = await env.http.post("/token", json={"grant_type": "client_credentials"})
    assert await _error(as_json) == (400, "invalid_request")


async def test_issued_token_carries_agency_and_rfc9068_type(env: Env) -> None:
    token = (await env.token()).json()["access_token"]
    jwks = (await env.http.get("/.well-known/jwks.json")).json()
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["agency"] == "POLICE"
    assert decoded.claims["aud"] == "safehub-ingest"


def test_client_registration_files(env: Env) -> None:
    assert env.client.private_key_path.stat().st_mode & 0o777 == 0o600
    registration = (env.state_dir / "clients" / "police-test.json").read_text()
    assert '"d"' not in registration  # never the private key
    with pytest.raises(FileExistsError):
        register_client(
            state_dir=env.state_dir,
            keys_out_dir=env.client.private_key_path.parent,
            agency="POLICE",
            client_id="police-test",
        )


def test_used_assertion_ids_are_kept_until_they_expire_then_pruned(tmp_path: Path) -> None:
    from services.identity.used_assertions import SqliteUsedAssertions

    used = SqliteUsedAssertions(tmp_path / "used.sqlite3")
    try:
        assert used.first_use("c:1", expires_at=NOW + 60, now=NOW)
        assert not used.first_use("c:1", expires_at=NOW + 60, now=NOW + 30)
        assert used.first_use("c:2", expires_at=NOW + 600, now=NOW + 61)  # prunes c:1
        assert len(used) == 1
    finally:
        used.close()
    reopened = SqliteUsedAssertions(tmp_path / "used.sqlite3")
    try:
        assert not reopened.first_use("c:2", expires_at=NOW + 600, now=NOW + 62)
    finally:
        reopened.close()
