"""Signing people in with OpenID Connect: authorization code + PKCE (S256), using authlib's
Starlette integration against the hub's identity provider (or any OIDC provider).

The console is a confidential client that authenticates to the token endpoint with
`private_key_jwt` (ES256): no shared secret exists to leak. authlib keeps the state, nonce
and PKCE verifier in the session, which here lives on the server (services/console/
sessions.py), and checks the ID token's signature (JWKS), issuer, audience, expiry, nonce
and at_hash. The ID token must be signed with one of the hub's accepted algorithms
(services/hubkit/jwt_algorithms.py), whatever the IdP's discovery document advertises.

`SignIn` is the port routes depend on, so route tests can use a fake.
"""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Mapping
from typing import Any, Protocol

# authlib 1.9 prefers a package named `httpx2` and warns when it falls back to httpx, which
# it fully supports (and which the rest of the hub uses). Its deprecation module installs an
# "always" filter when first imported, so import it first, then silence that one warning.
import authlib.deprecate  # noqa: F401
import httpx
from joserfc.jwk import ECKey
from starlette.requests import Request
from starlette.responses import Response

from services.console.errors import SignInFailed
from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS
from services.hubkit.jwt_keys import SIGNING_ALGORITHM

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.starlette_client import OAuth, OAuthError, StarletteOAuth2App
    from authlib.oauth2.rfc7523 import PrivateKeyJWT, private_key_jwt_sign

__all__ = ["OidcSignIn", "SignIn"]

SCOPES = "openid profile roles"


class SignIn(Protocol):
    async def redirect(self, request: Request, redirect_uri: str) -> Response: ...

    async def complete(self, request: Request) -> Mapping[str, Any]:
        """The verified ID token's claims; raises SignInFailed."""
        ...


class _ShortLivedPrivateKeyJWT(PrivateKeyJWT):  # type: ignore[misc]
    """authlib signs client assertions valid for an hour; the hub's identity provider (rightly)
    refuses any living longer than 5 minutes, since a shorter life limits replay."""

    lifetime_s = 60

    def sign(self, auth: Any, token_endpoint: str) -> Any:
        return private_key_jwt_sign(
            auth.client_secret,
            client_id=auth.client_id,
            token_endpoint=token_endpoint,
            alg=self.alg,
            expires_in=self.lifetime_s,
        )


class _HubAlgorithmsOAuth2App(StarletteOAuth2App):  # type: ignore[misc]
    """authlib verifies the ID token with the algorithms in the discovery document's
    `id_token_signing_alg_values_supported` (RS256 when it has none), so the IdP would decide
    what the hub accepts. Metadata given to `register` does not help: the fetched document is
    merged over it. `parse_id_token` reads that list from `load_server_metadata()` alone, so
    the hub's list is pinned there, after every load."""

    # Set by OidcSignIn: (the issuer, the URL the console itself reaches the provider at).
    back_channel: tuple[str, str] | None = None

    async def load_server_metadata(self) -> dict[str, Any]:
        metadata: dict[str, Any] = await super().load_server_metadata()
        metadata["id_token_signing_alg_values_supported"] = list(ACCEPTED_ALGORITHMS)
        if self.back_channel is not None:
            # Behind an ingress the document names the public issuer's endpoints; the browser
            # keeps `authorization_endpoint`, the console's own calls go to its Service.
            issuer, reached_at = self.back_channel
            for name in ("token_endpoint", "jwks_uri"):
                value = metadata.get(name)
                if isinstance(value, str) and value.startswith(f"{issuer}/"):
                    metadata[name] = reached_at + value.removeprefix(issuer)
        return metadata


class OidcSignIn:
    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_key: ECKey,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        reached_at: str | None = None,
    ) -> None:
        """`verify`: how the identity provider's HTTPS certificate is checked (the hub's CA,
        hubkit.tls.http_verify). `transport`: how the IdP is reached, when not over the
        network (tests pass an in-process one). `reached_at`: the provider's URL for the
        console's own calls (discovery, token, JWKS) when people reach it at `issuer` through
        an ingress; the ID token must still name `issuer`."""
        issuer = issuer.rstrip("/")
        reached_at = (reached_at or issuer).rstrip("/")
        client_kwargs: dict[str, Any] = {
            "scope": SCOPES,
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "private_key_jwt",
            "timeout": 10.0,
            "verify": verify,
        }
        if transport is not None:
            client_kwargs["transport"] = transport
        oauth = OAuth()
        oauth.register(
            name="safehub",
            client_cls=_HubAlgorithmsOAuth2App,
            client_id=client_id,
            client_secret=client_key,
            server_metadata_url=f"{reached_at}/.well-known/openid-configuration",
            client_kwargs=client_kwargs,
            client_auth_methods=[
                _ShortLivedPrivateKeyJWT(f"{issuer}/token", alg=SIGNING_ALGORITHM)
            ],
        )
        self._client: Any = oauth.create_client("safehub")
        if reached_at != issuer:
            self._client.back_channel = (issuer, reached_at)

    async def redirect(self, request: Request, redirect_uri: str) -> Response:
        response: Response = await self._client.authorize_redirect(request, redirect_uri)
        return response

    async def complete(self, request: Request) -> Mapping[str, Any]:
        try:
            token = await self._client.authorize_access_token(request)
        except OAuthError as error:
            raise SignInFailed(error.error or "oauth_error") from None
        except Exception as error:
            # authlib lets joserfc, httpx and claim errors through as they are; whatever
            # they are, the sign-in failed, and the page must say so rather than fail.
            raise SignInFailed(type(error).__name__) from None
        claims = token.get("userinfo")
        if not isinstance(claims, Mapping) or "sub" not in claims:
            raise SignInFailed("no verified ID token in the answer")
        return claims
