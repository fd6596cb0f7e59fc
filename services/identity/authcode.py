"""The authorization-code grant for people (OIDC Core 3.1 with PKCE, RFC 7636).

Pieces, each small:
- `PendingLogins`: authorization requests waiting for the person to sign in, by an opaque
  transaction id that the login form carries (and a cookie binds to the browser).
- `CodeStore`: issued codes, single use, short-lived (RFC 6749 4.1.2 says at most 10
  minutes; the default here is 60 seconds).
- `PersonTokenIssuer`: signs the access token (for the one API the code was issued for)
  and the ID token with the issuer key.
- `AuthorizationCodeGrant`: the token endpoint's `grant_type=authorization_code`. Clients
  authenticate with `private_key_jwt`, reusing `PrivateKeyJwtAuthenticator` unchanged.

Stores are in memory, right for the one local process; several token-endpoint processes
would need a shared store (or a real IdP).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from joserfc import jwt
from joserfc.jwk import ECKey

from services.hubkit.jwt_keys import SIGNING_ALGORITHM
from services.identity.errors import InvalidGrant, InvalidTarget, UnauthorizedClient
from services.identity.grants import PrivateKeyJwtAuthenticator, TokenResponse
from services.identity.oidc import (
    AUTHORIZATION_CODE,
    AuthorizationRequest,
    IssuedCode,
    check_code_redemption,
    id_token_claims,
    person_access_token_claims,
    person_may_use,
)
from services.identity.settings import IdentitySettings
from services.identity.users import User, UserDirectory

__all__ = [
    "AuthorizationCodeGrant",
    "CodeStore",
    "PendingLogin",
    "PendingLogins",
    "PersonTokenIssuer",
]

T = TypeVar("T")


class _ExpiringStore(Generic[T]):
    """Values by key, each with an expiry; `take` removes (single use)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[T, float]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: T, *, expires_at: float, now: float) -> None:
        with self._lock:
            for stale in [k for k, (_, exp) in self._items.items() if exp <= now]:
                del self._items[stale]
            self._items[key] = (value, expires_at)

    def peek(self, key: str, *, now: float) -> T | None:
        with self._lock:
            found = self._items.get(key)
        if found is None or found[1] <= now:
            return None
        return found[0]

    def take(self, key: str) -> T | None:
        with self._lock:
            found = self._items.pop(key, None)
        return None if found is None else found[0]


@dataclass(frozen=True, slots=True)
class PendingLogin:
    request: AuthorizationRequest
    expires_at: float


class PendingLogins(_ExpiringStore[PendingLogin]):
    pass


class CodeStore(_ExpiringStore[IssuedCode]):
    pass


class PersonTokenIssuer:
    """Signs a person's access token (typ at+jwt) and ID token with the issuer key."""

    def __init__(
        self,
        *,
        key: ECKey,
        settings: IdentitySettings,
        users: UserDirectory,
        clock: Callable[[], float],
        new_id: Callable[[], str],
    ) -> None:
        self._key = key
        self._settings = settings
        self._users = users
        self._clock = clock
        self._new_id = new_id

    def issue(self, grant: IssuedCode) -> TokenResponse:
        user = self._users.by_subject(grant.subject)
        if user is None:  # removed from the directory since signing in
            raise InvalidGrant("the signed-in user no longer exists")
        now = self._clock()
        settings = self._settings
        # Checked again here, not only at sign-in: configuration or roles may have changed.
        api = settings.person_apis.get(grant.resource)
        if api is None or not person_may_use(user, allowed_roles=api.roles):
            raise InvalidTarget(f"no token for {grant.resource!r} may be issued to this person")
        access_token = self._access_token(
            user, client_id=grant.client_id, resource=grant.resource, scopes=grant.scopes, now=now
        )
        id_claims = id_token_claims(
            issuer=settings.issuer,
            client_id=grant.client_id,
            user=user,
            grant=grant,
            access_token=access_token,
            now=now,
            ttl_s=settings.id_token_ttl_s,
        )
        id_token = jwt.encode(
            {"alg": SIGNING_ALGORITHM, "kid": self._key.kid, "typ": "JWT"},
            id_claims,
            self._key,
            algorithms=[SIGNING_ALGORITHM],
        )
        return TokenResponse(
            access_token=access_token,
            expires_in=settings.person_token_ttl_s,
            scope=" ".join(grant.scopes),
            id_token=id_token,
        )

    def issue_access_token(
        self, *, subject: str, client_id: str, resource: str, scopes: tuple[str, ...]
    ) -> TokenResponse:
        """An access token only (no ID token): for a person signed in at a command line
        through the device grant (device.py), who has no use for an ID token."""
        user = self._users.by_subject(subject)
        if user is None:
            raise InvalidGrant("the signed-in user no longer exists")
        api = self._settings.person_apis.get(resource)
        if api is None or not person_may_use(user, allowed_roles=api.roles):
            raise InvalidTarget(f"no token for {resource!r} may be issued to this person")
        token = self._access_token(
            user, client_id=client_id, resource=resource, scopes=scopes, now=self._clock()
        )
        return TokenResponse(
            access_token=token,
            expires_in=self._settings.person_token_ttl_s,
            scope=" ".join(scopes),
        )

    def _access_token(
        self, user: User, *, client_id: str, resource: str, scopes: tuple[str, ...], now: float
    ) -> str:
        claims = person_access_token_claims(
            issuer=self._settings.issuer,
            audience=resource,
            client_id=client_id,
            user=user,
            scopes=scopes,
            now=now,
            ttl_s=self._settings.person_token_ttl_s,
            token_id=self._new_id(),
        )
        return jwt.encode(
            {"alg": SIGNING_ALGORITHM, "kid": self._key.kid, "typ": "at+jwt"},
            claims,
            self._key,
            algorithms=[SIGNING_ALGORITHM],
        )


class AuthorizationCodeGrant:
    grant_type = AUTHORIZATION_CODE

    def __init__(
        self,
        *,
        authenticator: PrivateKeyJwtAuthenticator,
        codes: CodeStore,
        issuer: PersonTokenIssuer,
        clock: Callable[[], float],
    ) -> None:
        self._authenticator = authenticator
        self._codes = codes
        self._issuer = issuer
        self._clock = clock

    def handle(self, form: Mapping[str, str]) -> TokenResponse:
        registration = self._authenticator.authenticate(form)
        if self.grant_type not in registration.grant_types:
            raise UnauthorizedClient("this client may not use the authorization_code grant")
        code = form.get("code")
        if not code:
            raise InvalidGrant("code is required")
        # Taken before any check: a code that fails once is spent (no guessing the verifier).
        issued = self._codes.take(code)
        grant = check_code_redemption(
            issued,
            client_id=registration.client_id,
            redirect_uri=form.get("redirect_uri"),
            code_verifier=form.get("code_verifier"),
            now=self._clock(),
            resource=form.get("resource"),
        )
        return self._issuer.issue(grant)
