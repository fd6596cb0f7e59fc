"""The identity provider's authorization-code + PKCE flow for people (services/identity).

Driven over HTTP through the real app (httpx ASGI transport): the sign-in form, the code,
the token request authenticated with private_key_jwt, and the tokens' claims.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from services.hubkit.jwt_keys import load_key
from services.hubkit.settings import HubSettings
from services.identity.app import create_app
from services.identity.assertions import client_assertion
from services.identity.clients import ensure_signin_client
from services.identity.domain import CLIENT_ASSERTION_TYPE
from services.identity.oidc import access_token_hash, pkce_s256
from services.identity.settings import IdentitySettings
from services.identity.users import (
    DEFAULT_USERS_FILE,
    UserDirectory,
    load_dev_passwords,
    provision_credentials,
)

ISSUER = "http://identity.test"
REDIRECT = "http://console.test/auth/callback"
CLIENT = "safehub-console"


@dataclass
class Idp:
    http: httpx.AsyncClient
    state_dir: Path
    key_path: Path
    clock: list[float]

    @property
    def passwords(self) -> dict[str, str]:
        provision_credentials(self.state_dir, UserDirectory.load(DEFAULT_USERS_FILE))
        return load_dev_passwords(self.state_dir)

    async def authorize(self, **overrides: str) -> httpx.Response:
        params = {
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "scope": "openid profile roles",
            "state": "state-1",
            "nonce": "nonce-1",
            "code_challenge": pkce_s256("v" * 64),
            "code_challenge_method": "S256",
            **overrides,
        }
        return await self.http.get("/authorize", params={k: v for k, v in params.items() if v})

    async def sign_in(self, username: str, password: str | None = None, **params: str) -> str:
        """The code the provider redirects back with."""
        form = await self.authorize(**params)
        assert form.status_code == 200, form.text
        txn = re.search(r'name="txn" value="([^"]+)"', form.text)
        assert txn is not None
        answer = await self.http.post(
            "/authorize",
            data={
                "txn": txn.group(1),
                "username": username,
                "password": password or self.passwords[username],
            },
        )
        assert answer.status_code == 303, answer.text
        query = parse_qs(urlsplit(answer.headers["location"]).query)
        assert query["state"] == ["state-1"]
        assert query["iss"] == [ISSUER]
        return query["code"][0]

    async def token(self, code: str, verifier: str = "v" * 64, **extra: str) -> httpx.Response:
        assertion = client_assertion(
            key=load_key(self.key_path),
            client_id=CLIENT,
            token_endpoint=f"{ISSUER}/token",
            now=self.clock[0],
        )
        return await self.http.post(
            "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": assertion,
                **extra,
            },
        )


@pytest.fixture
async def idp(tmp_path: Path) -> AsyncIterator[Idp]:
    state = tmp_path / "identity"
    key_path = tmp_path / "console.pem"
    ensure_signin_client(
        state_dir=state,
        private_key_path=key_path,
        client_id=CLIENT,
        agency="MASH",
        redirect_uris=(REDIRECT,),
        resources=("safehub-console",),
    )
    clock = [1_800_000_000.0]
    app = create_app(
        HubSettings(data_dir=tmp_path),
        IdentitySettings(issuer=ISSUER, state_dir=state),
        clock=lambda: clock[0],
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
            yield Idp(http, state, key_path, clock)


async def _jwks(idp: Idp) -> KeySet:
    return KeySet.import_key_set((await idp.http.get("/.well-known/jwks.json")).json())


async def test_a_person_signs_in_and_gets_an_id_token_with_their_roles(idp: Idp) -> None:
    code = await idp.sign_in("mash.manager")
    answer = await idp.token(code)
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    keys = await _jwks(idp)
    id_token = jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims
    assert id_token["iss"] == ISSUER
    assert id_token["aud"] == CLIENT
    assert id_token["nonce"] == "nonce-1"
    assert id_token["at_hash"] == access_token_hash(body["access_token"])
    assert id_token["roles"] == ["MASH_MANAGER"]
    assert id_token["organisation"] == "LA-E09000099"
    assert id_token["name"] == "Morgan Ashby (synthetic)"
    access = jwt.decode(body["access_token"], keys, algorithms=["ES256"]).claims
    assert access["aud"] == "safehub-console"  # the console's API only (RFC 8707)
    assert access["sub"] == id_token["sub"]
    assert access["roles"] == ["MASH_MANAGER"]


async def test_the_ig_officers_token_carries_the_role_but_is_for_the_console_only(
    idp: Idp,
) -> None:
    body = (await idp.token(await idp.sign_in("ig.officer"))).json()
    access = jwt.decode(body["access_token"], await _jwks(idp), algorithms=["ES256"]).claims
    assert "IG_OFFICER" in access["roles"]
    assert access["aud"] == "safehub-console"


async def test_a_client_gets_tokens_only_for_the_apis_it_is_registered_for(idp: Idp) -> None:
    answer = await idp.authorize(resource="safehub-audit")
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["invalid_target"]


async def test_a_code_cannot_be_redeemed_for_another_api(idp: Idp) -> None:
    code = await idp.sign_in("mash.manager")
    assert await _error(await idp.token(code, resource="safehub-audit")) == (
        400,
        "invalid_target",
    )


async def test_discovery_advertises_the_code_flow_with_pkce(idp: Idp) -> None:
    document = (await idp.http.get("/.well-known/openid-configuration")).json()
    assert document["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert "authorization_code" in document["grant_types_supported"]
    assert {"openid", "roles"} <= set(document["scopes_supported"])


async def _error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


async def test_a_wrong_code_verifier_is_refused_and_spends_the_code(idp: Idp) -> None:
    code = await idp.sign_in("mash.manager")
    assert await _error(await idp.token(code, verifier="w" * 64)) == (400, "invalid_grant")
    assert await _error(await idp.token(code)) == (400, "invalid_grant")


async def test_a_code_is_single_use_and_short_lived(idp: Idp) -> None:
    code = await idp.sign_in("mash.manager")
    assert (await idp.token(code)).status_code == 200
    assert await _error(await idp.token(code)) == (400, "invalid_grant")
    late = await idp.sign_in("mash.manager")
    idp.clock[0] += 61
    assert await _error(await idp.token(late)) == (400, "invalid_grant")


async def test_the_code_is_bound_to_the_redirect_uri(idp: Idp) -> None:
    code = await idp.sign_in("mash.manager")
    answer = await idp.token(code, redirect_uri="http://console.test/elsewhere")
    assert await _error(answer) == (400, "invalid_grant")


async def test_an_unregistered_redirect_uri_is_never_redirected_to(idp: Idp) -> None:
    answer = await idp.authorize(redirect_uri="https://attacker.example/cb")
    assert answer.status_code == 400
    assert "location" not in answer.headers
    unknown = await idp.authorize(client_id="not-registered")
    assert unknown.status_code == 400


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": ""}, "invalid_request"),
        ({"nonce": ""}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
async def test_bad_authorization_requests_go_back_with_an_error(
    idp: Idp, overrides: dict[str, str], error: str
) -> None:
    answer = await idp.authorize(**overrides)
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == [error]
    assert query["state"] == ["state-1"]


async def test_wrong_passwords_get_one_message_and_are_throttled(idp: Idp) -> None:
    form = await idp.authorize()
    txn = re.search(r'name="txn" value="([^"]+)"', form.text)
    assert txn is not None

    async def attempt(username: str, password: str) -> httpx.Response:
        return await idp.http.post(
            "/authorize", data={"txn": txn.group(1), "username": username, "password": password}
        )

    wrong = await attempt("mash.manager", "not-it")
    unknown = await attempt("nobody.here", "not-it")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "The username or password is not right." in answer.text
    for _ in range(4):
        await attempt("mash.manager", "not-it")
    locked = await attempt("mash.manager", idp.passwords["mash.manager"])
    assert locked.status_code == 429


async def test_the_sign_in_form_only_completes_in_the_browser_that_asked(idp: Idp) -> None:
    form = await idp.authorize()
    txn = re.search(r'name="txn" value="([^"]+)"', form.text)
    assert txn is not None
    idp.http.cookies.clear()  # another browser: no binding cookie
    answer = await idp.http.post(
        "/authorize",
        data={
            "txn": txn.group(1),
            "username": "mash.manager",
            "password": idp.passwords["mash.manager"],
        },
    )
    assert answer.status_code == 400
    assert "location" not in answer.headers


async def test_the_sign_in_page_may_not_be_framed_or_cached(idp: Idp) -> None:
    form = await idp.authorize()
    policy = form.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "form-action 'self' http://console.test" in policy
    assert form.headers["cache-control"] == "no-store"


async def test_a_client_for_services_cannot_sign_people_in(idp: Idp, tmp_path: Path) -> None:
    from services.identity.clients import register_client

    register_client(
        state_dir=idp.state_dir,
        keys_out_dir=tmp_path / "integrators",
        agency="POLICE",
        client_id="police-service",
    )
    answer = await idp.authorize(client_id="police-service")
    assert answer.status_code == 400


def test_passwords_are_generated_not_shipped(tmp_path: Path) -> None:
    directory = UserDirectory.load(DEFAULT_USERS_FILE)
    shipped = json.loads(DEFAULT_USERS_FILE.read_text())["users"]
    assert all(not any("password" in key for key in user) for user in shipped)
    state = tmp_path / "identity"
    path = provision_credentials(state, directory)
    first = load_dev_passwords(state)
    assert set(first) == {u.username for u in directory}
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not path.is_relative_to(state)  # handed to the developer, not kept by the IdP
    provision_credentials(state, directory)
    assert load_dev_passwords(state) == first  # idempotent
