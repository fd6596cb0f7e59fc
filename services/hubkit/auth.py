"""Access-token validation against a JWKS, so any OAuth2 / OIDC provider can issue tokens.

The hub's own token endpoint (`services/identity`) is for local use; in production a real
IdP replaces it and nothing here changes: point `RemoteJwks` at its `jwks_uri` and set the
issuer and audience. Validation checks, in order:

1. a bearer token is present (RFC 6750);
2. the JWS signature verifies with a key from the JWKS (matched by `kid`; an unknown `kid`
   triggers at most one JWKS refresh, then fails), with an allowed asymmetric algorithm
   (never `none`, never HMAC: a shared-secret token could be minted by anyone holding the
   JWKS);
3. `iss` equals the configured issuer, `aud` contains the configured audience, `exp` is in
   the future and `nbf`/`iat` are not (a small leeway absorbs clock skew);
4. the agency claim and the scope are present.

`authorise_agency` then decides whether the token may publish for one agency: a token
issued to agency A is refused by the adapter for agency B (403, not 401: the caller *is*
authenticated, just not for this agency).

`PersonTokenValidator` checks a *person's* access token (RFC 9068, issued after sign-in) the
same way and reads who the person is: subject, roles, organisation and agency. A resource
server then decides on the roles (403 when the role it needs is missing).

Errors (one root, mapped to HTTP by the edge):

AuthError
├── Unauthenticated             401 + WWW-Authenticate: Bearer error="invalid_token"
│   ├── TokenMissing            no bearer token in the request (Bearer with no error code)
│   ├── TokenMalformed          not a compact JWS, or its payload is not a JSON object
│   ├── TokenSignatureInvalid   bad signature, unknown key id or disallowed algorithm
│   ├── TokenExpired            `exp` has passed (or `nbf`/`iat` is in the future)
│   ├── TokenIssuerInvalid      `iss` is not the configured issuer
│   ├── TokenAudienceInvalid    `aud` does not name this service
│   └── TokenClaimsInvalid      a required claim is missing or has the wrong type
├── Forbidden                   403 + WWW-Authenticate: Bearer error="insufficient_scope"
│   ├── InsufficientScope       the token lacks the scope the operation needs
│   └── AgencyMismatch          the token was issued to another agency
└── JwksUnavailable             the key set cannot be fetched (503: retry, never accept)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    DecodeError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    InvalidPayloadError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet

from services.hubkit.errors import HubError
from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS

__all__ = [
    "ACCESS_TOKEN_TYPES",
    "AUDIT_ERASE_SCOPE",
    "AUDIT_RETRACTIONS_SCOPE",
    "CHILD_CONTEXT_SCOPE",
    "CHILD_ERASE_SCOPE",
    "CHILD_KEYS_SCOPE",
    "CHILD_SEARCH_SCOPE",
    "PUBLISH_SCOPE",
    "RESOLVE_CHILDREN_SCOPE",
    "REVIEW_CHILDREN_SCOPE",
    "AccessClaims",
    "AgencyMismatch",
    "AuthError",
    "Forbidden",
    "InsufficientScope",
    "JwksSource",
    "JwksUnavailable",
    "PersonClaims",
    "PersonTokenValidator",
    "RemoteJwks",
    "StaticJwks",
    "TokenAudienceInvalid",
    "TokenClaimsInvalid",
    "TokenExpired",
    "TokenIssuerInvalid",
    "TokenMalformed",
    "TokenMissing",
    "TokenSignatureInvalid",
    "TokenValidator",
    "Unauthenticated",
    "authorise_agency",
    "bearer_token",
    "verify_access_token",
]

# The scope an integrator's client needs to publish notices for its agency.
PUBLISH_SCOPE = "notices:publish"
# The scope an agency adapter's own client needs to ask the child index for a child's key
# (services/childindex); never granted to an integrator's client.
RESOLVE_CHILDREN_SCOPE = "children:resolve"
# The child index's other callers, one scope each (issue 15): the MASH console answers the
# review queue; the gateway records what notices said and reads each child's context; the
# audit service and the console ask which keys one child has had.
REVIEW_CHILDREN_SCOPE = "children:review"
CHILD_CONTEXT_SCOPE = "children:context"
CHILD_KEYS_SCOPE = "children:keys"
# The console finds a child from the identifiers a person typed (issue 16): the index answers
# with keys and scores only, never an identifier.
CHILD_SEARCH_SCOPE = "children:search"
# The audit service's prevalence figures (issue 17): a child's age band on a day and sex,
# never the date of birth; granted to the audit service's own client only.
CHILD_PROFILE_SCOPE = "children:profile"
# An agency adapter asks the audit service who received and who acknowledged a retraction of
# one of its own agency's notices (issue 18); granted to the adapters' own clients only.
AUDIT_RETRACTIONS_SCOPE = "audit:retractions"
# The erasure job (issue 18, `safehub erasure`, client `erasure-job`): erase a child from a
# store and ask whether it is still readable there (each store's own erase routes), and
# record the erasure's phases in the audit log. Granted to that one client only.
CHILD_ERASE_SCOPE = "children:erase"
AUDIT_ERASE_SCOPE = "audit:erase"


class AuthError(HubError):
    """Root of token validation and authorisation errors."""

    #: RFC 6750 error code for the WWW-Authenticate header; None: the challenge carries no
    #: error code (section 3.1: a request without any authentication information).
    error_code: str | None = "invalid_token"


class Unauthenticated(AuthError):
    """The caller did not prove who it is: answer 401."""


class TokenMissing(Unauthenticated):
    # RFC 6750 section 3.1: "If the request lacks any authentication information (e.g., the
    # client was unaware that authentication is necessary or attempted using an unsupported
    # authentication method), the resource server SHOULD NOT include an error code or other
    # error information." (invalid_request is a 400 for a malformed request.)
    error_code = None

    def __init__(self) -> None:
        super().__init__("no bearer access token: send 'Authorization: Bearer <token>'")


class TokenMalformed(Unauthenticated):
    pass


class TokenSignatureInvalid(Unauthenticated):
    pass


class TokenExpired(Unauthenticated):
    pass


class TokenIssuerInvalid(Unauthenticated):
    pass


class TokenAudienceInvalid(Unauthenticated):
    pass


class TokenClaimsInvalid(Unauthenticated):
    pass


class Forbidden(AuthError):
    """The caller is authenticated but not allowed to do this: answer 403."""

    error_code = "insufficient_scope"


class InsufficientScope(Forbidden):
    def __init__(self, required: str, granted: Collection[str]) -> None:
        self.required = required
        shown = " ".join(sorted(granted)) or "(none)"
        super().__init__(f"token lacks scope {required!r}; granted scopes: {shown}")


class AgencyMismatch(Forbidden):
    def __init__(self, token_agency: str, required_agency: str) -> None:
        self.token_agency = token_agency
        self.required_agency = required_agency
        super().__init__(
            f"token was issued to agency {token_agency}; this adapter accepts notices from "
            f"{required_agency} only"
        )


class JwksUnavailable(AuthError):
    """The key set could not be fetched; tokens cannot be checked now (fail closed)."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a validated access token says about its holder."""

    issuer: str
    subject: str
    client_id: str
    agency: str
    scopes: frozenset[str]
    expires_at: int
    token_id: str | None


class JwksSource(Protocol):
    """Where verification keys come from. `refresh=True` asks for a fresh copy."""

    async def key_set(self, *, refresh: bool = False) -> KeySet: ...


class StaticJwks:
    """A fixed key set (tests, or an IdP whose keys are configured as data)."""

    def __init__(self, key_set: KeySet) -> None:
        self._key_set = key_set

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        return self._key_set


class RemoteJwks:
    """A JWKS fetched over HTTP and cached; an unknown `kid` refreshes at most every
    `min_refresh_s` so a flood of forged key ids cannot hammer the IdP."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient,
        ttl_s: float = 300.0,
        min_refresh_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._client = client
        self._ttl_s = ttl_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._cached: KeySet | None = None
        self._fetched_at = 0.0

    async def key_set(self, *, refresh: bool = False) -> KeySet:
        now = self._clock()
        age = now - self._fetched_at
        stale = self._cached is None or age > self._ttl_s
        if self._cached is not None and not stale and not (refresh and age > self._min_refresh_s):
            return self._cached
        try:
            response = await self._client.get(self._url, timeout=5.0)
            response.raise_for_status()
            key_set = KeySet.import_key_set(response.json())
        except (httpx.HTTPError, ValueError, KeyError, JoseError) as error:
            if self._cached is not None and not stale:
                return self._cached
            raise JwksUnavailable(f"cannot fetch the JWKS from {self._url}: {error}") from error
        self._cached = key_set
        self._fetched_at = now
        return key_set


def bearer_token(authorization: str | None) -> str:
    """The token from an `Authorization: Bearer <token>` header value."""
    if not authorization:
        raise TokenMissing()
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenMissing()
    return token.strip()


# RFC 9068 s4: "at+jwt", optionally with the "application/" prefix.
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


def _decode(token: str, key_set: KeySet, algorithms: list[str]) -> jwt.Token:
    try:
        return jwt.decode(token, key_set, algorithms=algorithms)
    except InvalidKeyIdError:
        raise
    except BadSignatureError:
        raise TokenSignatureInvalid("token signature does not verify") from None
    except UnsupportedAlgorithmError:
        raise TokenSignatureInvalid(
            f"token algorithm is not allowed; accepted: {', '.join(algorithms)}"
        ) from None
    except (DecodeError, InvalidPayloadError, ValueError):
        raise TokenMalformed("token is not a well-formed JWT") from None
    except JoseError as error:
        raise TokenSignatureInvalid(f"token cannot be verified ({error.error})") from None


def _check_registered_claims(
    claims: dict[str, Any], *, issuer: str, audience: str, leeway_s: int, now: int
) -> None:
    registry = jwt.JWTClaimsRegistry(
        now=lambda: now,
        leeway=leeway_s,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        exp={"essential": True},
        sub={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise TokenExpired("token has expired") from None
    except MissingClaimError as error:
        raise TokenClaimsInvalid(f"token lacks the required claim {error.claim!r}") from None
    except InvalidClaimError as error:
        claim = error.claim
        if claim == "iss":
            raise TokenIssuerInvalid(f"token issuer is not {issuer!r}") from None
        if claim == "aud":
            raise TokenAudienceInvalid(f"token audience does not include {audience!r}") from None
        if claim in ("nbf", "iat"):
            raise TokenExpired(f"token is not valid yet ({claim} is in the future)") from None
        raise TokenClaimsInvalid(f"token claim {claim!r} is invalid") from None
    except ClaimError as error:
        raise TokenClaimsInvalid(f"token claim {error.claim!r} is invalid") from None


async def verify_access_token(
    token: str,
    *,
    jwks: JwksSource,
    issuer: str,
    audience: str,
    algorithms: Collection[str] = ACCEPTED_ALGORITHMS,
    leeway_s: int = 30,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Signature (with one JWKS refresh for rotated keys), iss, aud, exp/nbf/iat and sub.

    Returns the claims; callers read their own claims (agency, roles) from them.
    """
    allowed = list(algorithms)
    try:
        decoded = _decode(token, await jwks.key_set(), allowed)
    except InvalidKeyIdError:
        # The IdP may have rotated its keys since we last fetched them.
        try:
            decoded = _decode(token, await jwks.key_set(refresh=True), allowed)
        except InvalidKeyIdError:
            raise TokenSignatureInvalid(
                "token is signed by a key the issuer does not publish"
            ) from None
    # RFC 9068 s2.1/s4: an access token says so in its header; an ID token (typ JWT) or any
    # other JWT from the same issuer must never be accepted as one.
    if str(decoded.header.get("typ", "")).lower() not in ACCESS_TOKEN_TYPES:
        raise TokenMalformed("token is not an access token (header typ must be at+jwt)")
    claims: dict[str, Any] = decoded.claims
    _check_registered_claims(
        claims, issuer=issuer, audience=audience, leeway_s=leeway_s, now=int(clock())
    )
    return claims


class _IssuerTokens:
    """Checks tokens from one issuer for one audience: signature and registered claims
    (`verify_access_token`). The validators below read their own claims from the result."""

    def __init__(
        self,
        *,
        jwks: JwksSource,
        issuer: str,
        audience: str,
        algorithms: Collection[str],
        leeway_s: int,
        clock: Callable[[], float],
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._algorithms = list(algorithms)
        self._leeway_s = leeway_s
        self._clock = clock

    async def _verified_claims(self, token: str) -> dict[str, Any]:
        return await verify_access_token(
            token,
            jwks=self._jwks,
            issuer=self._issuer,
            audience=self._audience,
            algorithms=self._algorithms,
            leeway_s=self._leeway_s,
            clock=self._clock,
        )


class TokenValidator(_IssuerTokens):
    """Validates access tokens from one issuer for one audience."""

    def __init__(
        self,
        *,
        jwks: JwksSource,
        issuer: str,
        audience: str,
        algorithms: Collection[str] = ACCEPTED_ALGORITHMS,
        agency_claim: str = "agency",
        leeway_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            jwks=jwks,
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            leeway_s=leeway_s,
            clock=clock,
        )
        self._agency_claim = agency_claim

    async def validate(self, token: str) -> AccessClaims:
        return self._check_claims(await self._verified_claims(token))

    def _check_claims(self, claims: dict[str, Any]) -> AccessClaims:
        agency = claims.get(self._agency_claim)
        if not isinstance(agency, str) or not agency:
            raise TokenClaimsInvalid(f"token lacks the {self._agency_claim!r} claim")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise TokenClaimsInvalid("token 'scope' claim must be a space-separated string")
        subject = str(claims["sub"])
        client_id = claims.get("client_id", subject)
        token_id = claims.get("jti")
        return AccessClaims(
            issuer=str(claims["iss"]),
            subject=subject,
            client_id=str(client_id),
            agency=agency,
            scopes=frozenset(scope.split()),
            expires_at=int(claims["exp"]),
            token_id=str(token_id) if token_id is not None else None,
        )


@dataclass(frozen=True, slots=True)
class PersonClaims:
    """What a validated person's access token says about its holder."""

    subject: str
    """The opaque, stable `sub` of the person (never a name)."""
    roles: frozenset[str]
    organisation: str | None
    """Organisation code the person works for, when the token names one."""
    agency: str | None


class PersonTokenValidator(_IssuerTokens):
    """Validates people's access tokens from one issuer for one audience and reads the roles
    (a list of strings or a space-separated string), organisation and agency claims. An
    organisation or agency claim name of None means that claim is not read (always None)."""

    def __init__(
        self,
        *,
        jwks: JwksSource,
        issuer: str,
        audience: str,
        roles_claim: str = "roles",
        organisation_claim: str | None = "organisation",
        agency_claim: str | None = "agency",
        algorithms: Collection[str] = ACCEPTED_ALGORITHMS,
        leeway_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            jwks=jwks,
            issuer=issuer,
            audience=audience,
            algorithms=algorithms,
            leeway_s=leeway_s,
            clock=clock,
        )
        self._roles_claim = roles_claim
        self._organisation_claim = organisation_claim
        self._agency_claim = agency_claim

    async def validate(self, token: str) -> PersonClaims:
        claims = await self._verified_claims(token)
        raw = claims.get(self._roles_claim, [])
        if isinstance(raw, str):
            roles = frozenset(raw.split())
        elif isinstance(raw, list) and all(isinstance(r, str) for r in raw):
            roles = frozenset(raw)
        else:
            raise TokenClaimsInvalid(
                f"token claim {self._roles_claim!r} must be a list of strings or a string"
            )
        return PersonClaims(
            subject=str(claims["sub"]),
            roles=roles,
            organisation=_optional_claim(claims, self._organisation_claim),
            agency=_optional_claim(claims, self._agency_claim),
        )


def _optional_claim(claims: dict[str, Any], name: str | None) -> str | None:
    if name is None:
        return None
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise TokenClaimsInvalid(f"token claim {name!r} must be a non-empty string")
    return value


def authorise_agency(
    claims: AccessClaims, *, agency: str, scope: str = PUBLISH_SCOPE
) -> AccessClaims:
    """Allow the holder to act for `agency` only if the token says so. Pure."""
    if claims.agency != agency:
        raise AgencyMismatch(claims.agency, agency)
    if scope not in claims.scopes:
        raise InsufficientScope(scope, claims.scopes)
    return claims
