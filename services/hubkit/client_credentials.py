"""Access tokens for a service's own OAuth2 client: the client-credentials grant with
`private_key_jwt` client authentication (RFC 7523), as an integrator's system gets them
(docs/integrators.md), cached until shortly before they expire.

A service that calls another hub API as itself (an agency adapter asking the child index
for a child's key) holds one private key (ES256 PEM, 0600) and a client id registered with
the identity provider; nothing shared with anyone else.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from services.hubkit.errors import HubError
from services.hubkit.jwt_keys import SIGNING_ALGORITHM, load_key

__all__ = ["CLIENT_ASSERTION_TYPE", "ClientCredentials", "TokenUnavailable"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class TokenUnavailable(HubError):
    """No access token could be obtained (key missing, issuer unreachable or refusing)."""


class ClientCredentials:
    """Gets and caches an access token for one client; concurrent callers share one request."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        token_endpoint: str,
        client_id: str,
        private_key_path: Path,
        scope: str | None = None,
        timeout_s: float = 5.0,
        renew_before_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._token_endpoint = token_endpoint
        self._client_id = client_id
        self._key_path = private_key_path
        self._scope = scope
        self._timeout_s = timeout_s
        self._renew_before_s = renew_before_s
        self._clock = clock
        self._key: ECKey | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def client_id(self) -> str:
        return self._client_id

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires_at - self._renew_before_s:
                self._token, self._expires_at = await self._fetch()
            return self._token

    def forget(self) -> None:
        """Drop the cached token (the resource server refused it: it may have been revoked
        or the issuer's keys rotated); the next call gets a new one."""
        self._token = None

    def _signing_key(self) -> ECKey:
        if self._key is None:
            try:
                key = load_key(self._key_path)
            except FileNotFoundError:
                raise TokenUnavailable(
                    f"no private key for client {self._client_id} at {self._key_path}"
                ) from None
            except (ValueError, JoseError) as error:
                raise TokenUnavailable(
                    f"the private key at {self._key_path} is not an EC key ({type(error).__name__})"
                ) from None
            key.ensure_kid()
            self._key = key
        return self._key

    def _assertion(self, now: float) -> str:
        key = self._signing_key()
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._token_endpoint,
            "iat": int(now),
            "exp": int(now) + 60,  # short-lived and single use: the issuer remembers the jti
            "jti": secrets.token_urlsafe(16),
        }
        header = {"alg": SIGNING_ALGORITHM, "kid": key.kid}
        return jwt.encode(header, claims, key, algorithms=[SIGNING_ALGORITHM])

    async def _fetch(self) -> tuple[str, float]:
        now = self._clock()
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self._assertion(now),
        }
        if self._scope:
            form["scope"] = self._scope
        try:
            response = await self._http.post(
                self._token_endpoint, data=form, timeout=self._timeout_s
            )
        except httpx.HTTPError as error:
            raise TokenUnavailable(f"token endpoint unreachable ({type(error).__name__})") from None
        if response.status_code != 200:
            raise TokenUnavailable(
                f"token endpoint refused client {self._client_id} ({response.status_code})"
            )
        try:
            body = response.json()
            return str(body["access_token"]), now + float(body["expires_in"])
        except (ValueError, KeyError, TypeError):
            raise TokenUnavailable("token endpoint answered without a token") from None
