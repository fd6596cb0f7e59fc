"""Grants the token endpoint supports, and the client authentication they share.

The token endpoint looks the `grant_type` up in a `GrantRegistry`. Adding the
authorization-code + PKCE flow for people means adding an `AuthorizationCodeGrant` (and an
/authorize router); `PrivateKeyJwtAuthenticator` and `TokenIssuer` are reused as they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS
from services.hubkit.jwt_keys import SIGNING_ALGORITHM
from services.identity.clients import ClientRegistration, FileClientRegistry
from services.identity.domain import (
    CLIENT_ASSERTION_TYPE,
    access_token_claims,
    check_assertion_claims,
    granted_scopes,
)
from services.identity.errors import (
    InvalidClient,
    InvalidRequest,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from services.identity.settings import IdentitySettings
from services.identity.used_assertions import UsedAssertions

__all__ = [
    "ClientCredentialsGrant",
    "Grant",
    "GrantRegistry",
    "PrivateKeyJwtAuthenticator",
    "TokenIssuer",
    "TokenResponse",
]


@dataclass(frozen=True, slots=True)
class TokenResponse:
    access_token: str
    expires_in: int
    scope: str
    token_type: str = "Bearer"
    id_token: str | None = None
    """Set only when a person signs in (OIDC authorization code; see authcode.py)."""


class Grant(Protocol):
    grant_type: str

    def handle(self, form: Mapping[str, str]) -> TokenResponse: ...


class GrantRegistry:
    def __init__(self, *grants: Grant) -> None:
        self._grants = {g.grant_type: g for g in grants}

    @property
    def grant_types(self) -> list[str]:
        return sorted(self._grants)

    def handle(self, form: Mapping[str, str]) -> TokenResponse:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise InvalidRequest("grant_type is required")
        grant = self._grants.get(grant_type)
        if grant is None:
            raise UnsupportedGrantType(
                f"grant_type {grant_type!r} is not supported; supported: "
                f"{', '.join(self.grant_types)}"
            )
        return grant.handle(form)


class TokenIssuer:
    """Signs access tokens with the issuer key."""

    def __init__(
        self,
        *,
        key: ECKey,
        settings: IdentitySettings,
        clock: Callable[[], float],
        new_id: Callable[[], str],
    ) -> None:
        self._key = key
        self._settings = settings
        self._clock = clock
        self._new_id = new_id

    def issue(self, registration: ClientRegistration, scopes: list[str]) -> TokenResponse:
        claims = access_token_claims(
            issuer=self._settings.issuer,
            audience=self._settings.audience,
            client_id=registration.client_id,
            agency=registration.agency,
            scopes=scopes,
            now=self._clock(),
            ttl_s=self._settings.token_ttl_s,
            token_id=self._new_id(),
        )
        header = {"alg": SIGNING_ALGORITHM, "kid": self._key.kid, "typ": "at+jwt"}
        token = jwt.encode(header, claims, self._key, algorithms=[SIGNING_ALGORITHM])
        return TokenResponse(token, self._settings.token_ttl_s, " ".join(scopes))


class PrivateKeyJwtAuthenticator:
    """Client authentication by a JWT signed with the client's registered key (RFC 7523)."""

    def __init__(
        self,
        *,
        registry: FileClientRegistry,
        settings: IdentitySettings,
        replay: UsedAssertions,
        clock: Callable[[], float],
    ) -> None:
        self._registry = registry
        self._settings = settings
        self._replay = replay
        self._clock = clock

    def authenticate(self, form: Mapping[str, str]) -> ClientRegistration:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise InvalidClient(
                "authenticate with private_key_jwt: client_assertion_type must be "
                f"{CLIENT_ASSERTION_TYPE}"
            )
        assertion = form.get("client_assertion")
        if not assertion:
            raise InvalidClient("client_assertion is required")
        try:
            # Peek (unverified) at the claims only to find which client's key to verify with.
            peeked = json.loads(jws.extract_compact(assertion.encode()).payload or b"")
        except (JoseError, ValueError):
            raise InvalidClient("client_assertion is not a well-formed JWT") from None
        if not isinstance(peeked, dict):
            raise InvalidClient("client_assertion payload is not a JSON object")
        client_id = peeked.get("sub")
        if not isinstance(client_id, str):
            raise InvalidClient("client assertion has no sub")
        if form.get("client_id") not in (None, client_id):
            raise InvalidClient("client_id does not match the client assertion")
        registration = self._registry.get(client_id)
        if registration is None:
            raise InvalidClient("unknown client")
        try:
            verified = jwt.decode(assertion, registration.key_set(), algorithms=ACCEPTED_ALGORITHMS)
        except JoseError:
            raise InvalidClient("client assertion signature does not verify") from None
        now = self._clock()
        jti = check_assertion_claims(
            verified.claims,
            client_id=client_id,
            audiences=self._settings.assertion_audiences,
            now=now,
            max_lifetime_s=self._settings.assertion_max_lifetime_s,
            leeway_s=self._settings.leeway_s,
        )
        expires_at = float(verified.claims["exp"]) + self._settings.leeway_s
        # Last, after every other check: a forged or expired assertion must not spend an id.
        if not self._replay.first_use(f"{client_id}:{jti}", expires_at=expires_at, now=now):
            raise InvalidClient(
                "client assertion was already used (jti replay); sign a new one for each request"
            )
        return registration


class ClientCredentialsGrant:
    grant_type = "client_credentials"

    def __init__(self, *, authenticator: PrivateKeyJwtAuthenticator, issuer: TokenIssuer) -> None:
        self._authenticator = authenticator
        self._issuer = issuer

    def handle(self, form: Mapping[str, str]) -> TokenResponse:
        registration = self._authenticator.authenticate(form)
        if self.grant_type not in registration.grant_types:
            raise UnauthorizedClient("this client may not use the client_credentials grant")
        scopes = granted_scopes(form.get("scope"), registration.scopes)
        return self._issuer.issue(registration, scopes)
