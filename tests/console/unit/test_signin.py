"""The console's OpenID Connect sign-in accepts an ID token only under the hub's algorithms
(services/hubkit/jwt_algorithms.py), whatever the IdP's discovery document advertises.

authlib runs for real (redirect, token request with private_key_jwt, ID-token checks); the
identity provider is a fake reached through an in-process transport, so nothing leaves the
test."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey
from starlette.requests import Request

from services.console.errors import SignInFailed
from services.console.signin import OidcSignIn
from services.hubkit.jwt_keys import generate_key

ISSUER = "https://idp.test"
CLIENT = "safehub-console"
REDIRECT_URI = "https://console.test/auth/callback"
# What a careless (or hostile) IdP might advertise: more than the hub accepts.
ADVERTISED = ["ES256", "RS256", "ES384", "PS256", "HS256"]


@dataclass
class FakeIdp:
    """Publishes a discovery document advertising `ADVERTISED`, a JWKS holding `key` (for an
    HMAC key that is its secret: a JWKS is public, which is why HMAC is never accepted), and
    answers any code with an ID token signed by `key` under `alg`."""

    key: ECKey | OctKey
    alg: str
    nonce: str = ""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(
                200,
                json={
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                    "id_token_signing_alg_values_supported": ADVERTISED,
                },
            )
        if request.url.path == "/jwks":
            public = isinstance(self.key, ECKey)
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=not public)]})
        if request.url.path == "/token":
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "sub": "person-1",
                "aud": CLIENT,
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce,
            }
            header = {"alg": self.alg, "kid": self.key.kid}
            id_token = jwt.encode(header, claims, self.key, algorithms=[self.alg])
            return httpx.Response(
                200,
                json={
                    "access_token": "opaque",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "id_token": id_token,
                },
            )
        return httpx.Response(404)


def _request(session: dict[str, Any], query: Mapping[str, str] | None = None) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/auth/callback",
            "query_string": urlencode(query or {}).encode(),
            "headers": [],
            "session": session,
        }
    )


async def _sign_in(idp: FakeIdp) -> Mapping[str, Any]:
    signin = OidcSignIn(
        issuer=ISSUER,
        client_id=CLIENT,
        client_key=generate_key(),
        transport=httpx.MockTransport(idp.handle),
    )
    session: dict[str, Any] = {}
    redirect = await signin.redirect(_request(session), REDIRECT_URI)
    asked = dict(parse_qsl(urlsplit(redirect.headers["location"]).query))
    idp.nonce = asked["nonce"]
    return await signin.complete(_request(session, {"code": "code-1", "state": asked["state"]}))


async def test_an_es256_id_token_signs_the_person_in() -> None:
    claims = await _sign_in(FakeIdp(generate_key(), "ES256"))
    assert claims["sub"] == "person-1"


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        pytest.param(
            ECKey.generate_key("P-384", parameters={"alg": "ES384"}, auto_kid=True),
            "ES384",
            id="ES384",
        ),
        pytest.param(
            OctKey.generate_key(256, parameters={"alg": "HS256"}, auto_kid=True),
            "HS256",
            id="HS256",
        ),
    ],
)
async def test_an_id_token_under_an_algorithm_the_hub_does_not_accept_is_refused(
    key: ECKey | OctKey, alg: str
) -> None:
    with pytest.raises(SignInFailed, match="UnsupportedAlgorithmError"):
        await _sign_in(FakeIdp(key, alg))
