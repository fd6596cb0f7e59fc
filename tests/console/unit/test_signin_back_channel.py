"""Behind an ingress the browser goes to the identity provider's public issuer while the console
itself calls it at its Service: discovery, token and JWKS at `reached_at`, the redirect at the
issuer, and the ID token still checked against the public issuer."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from joserfc import jwt

from services.console.errors import SignInFailed
from services.console.signin import OidcSignIn
from services.hubkit.jwt_keys import generate_key
from tests.console.unit import test_signin
from tests.console.unit.test_signin import ISSUER, REDIRECT_URI, FakeIdp, _request

INTERNAL = "http://identity"


async def _sign_in(idp: FakeIdp, token_iss: str = ISSUER) -> tuple[list[str], str, dict[str, Any]]:
    asked_urls: list[str] = []
    client_key = generate_key()

    def handle(request: httpx.Request) -> httpx.Response:
        asked_urls.append(str(request.url))
        if request.url.host != "identity":
            return httpx.Response(502)  # the public name does not resolve inside the cluster
        if request.url.path == "/token":
            # The client assertion names the provider as people know it (RFC 7523 3).
            assertion = dict(parse_qsl(request.content.decode()))["client_assertion"]
            aud = jwt.decode(assertion, client_key).claims["aud"]
            assert aud == f"{ISSUER}/token"
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(test_signin, "ISSUER", token_iss)
                return idp.handle(request)
        return idp.handle(request)

    signin = OidcSignIn(
        issuer=ISSUER,
        client_id="safehub-console",
        client_key=client_key,
        transport=httpx.MockTransport(handle),
        reached_at=f"{INTERNAL}/",
    )
    session: dict[str, Any] = {}
    redirect = await signin.redirect(_request(session), REDIRECT_URI)
    location = redirect.headers["location"]
    asked = dict(parse_qsl(urlsplit(location).query))
    idp.nonce = asked["nonce"]
    claims = await signin.complete(_request(session, {"code": "c", "state": asked["state"]}))
    return asked_urls, location, dict(claims)


async def test_the_console_calls_the_provider_at_its_service_and_the_browser_at_the_issuer() -> (
    None
):
    asked_urls, location, claims = await _sign_in(FakeIdp(generate_key(), "ES256"))
    assert location.startswith(f"{ISSUER}/authorize?")
    assert {urlsplit(u).hostname for u in asked_urls} == {"identity"}
    assert {urlsplit(u).path for u in asked_urls} == {
        "/.well-known/openid-configuration",
        "/token",
        "/jwks",
    }
    assert claims["sub"] == "person-1"


async def test_an_id_token_naming_the_service_url_as_issuer_is_refused() -> None:
    with pytest.raises(SignInFailed, match="InvalidClaimError"):
        await _sign_in(FakeIdp(generate_key(), "ES256"), token_iss=INTERNAL)
