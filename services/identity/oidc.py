"""Pure rules of the authorization-code + PKCE flow for people (OIDC Core 3.1, RFC 7636).

No clock, no randomness, no I/O: callers pass `now` and generated values in.

Authorization request (GET /authorize), checked in two steps, because where an error may be
sent depends on what is already known to be safe:
1. `check_client_redirect`: the client is registered for the authorization-code grant and
   the redirect URI is one of its registered URIs, compared exactly (no prefix or pattern
   matching). Failures are shown to the person, never redirected.
2. `check_authorization_request`: response_type=code, scope includes openid, a state and a
   nonce, and a PKCE challenge with method S256 (plain is refused: it protects nothing if
   the request is observed), and the API the token is for (RFC 8707 `resource`, or the
   client's first registered one): one the client is registered for. Failures go back to
   the redirect URI with `error` and `state`.
3. Once the person is known, `person_may_use`: their roles allow a token for that API (the
   IG audit API, for instance, only for IG officers).

Token request: the code is redeemed once, by the client it was issued to, with the same
redirect URI, within its lifetime, and with a code verifier whose S256 hash is the challenge;
a `resource`, if given, must be the one the code was issued for.

Access token: one audience, the API asked for, so a token for the console is refused by the
audit API and the CP-IS lookup (each requires its own `aud`), and the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from services.identity.clients import ClientRegistration
from services.identity.errors import (
    InvalidGrant,
    InvalidTarget,
    RedirectableAuthorizationError,
    UnsafeAuthorizationRequest,
)
from services.identity.users import User

__all__ = [
    "AUTHORIZATION_CODE",
    "PERSON_SCOPES",
    "AuthorizationRequest",
    "IssuedCode",
    "access_token_hash",
    "check_authorization_request",
    "check_client_redirect",
    "check_code_redemption",
    "id_token_claims",
    "person_access_token_claims",
    "person_may_use",
    "pkce_s256",
    "redirect_uri_with",
    "redirect_uris_of",
    "resources_of",
]

AUTHORIZATION_CODE = "authorization_code"
# Scopes a person's sign-in may ask for: `openid` (required), `profile` (name), `roles`
# (roles and organisation, which decide what the console shows).
PERSON_SCOPES = ("openid", "profile", "roles")
# RFC 7636 section 4.1: 43-128 characters from the unreserved set.
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")  # base64url(SHA-256), no padding
_MAX_PARAM = 512


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str
    resource: str
    """The audience of the access token: the one API it is for."""


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """What an authorization code stands for, kept server side until redeemed."""

    client_id: str
    redirect_uri: str
    subject: str
    scopes: tuple[str, ...]
    nonce: str
    code_challenge: str
    auth_time: int
    expires_at: float
    resource: str


def redirect_uris_of(registration: ClientRegistration) -> tuple[str, ...]:
    uris = registration.extra.get("redirect_uris", ())
    return tuple(str(u) for u in uris) if isinstance(uris, list | tuple) else ()


def resources_of(registration: ClientRegistration) -> tuple[str, ...]:
    """The APIs (audiences) the client may get people's tokens for; the first is its default."""
    resources = registration.extra.get("resources", ())
    return tuple(str(r) for r in resources) if isinstance(resources, list | tuple) else ()


def check_client_redirect(
    params: Mapping[str, str], registration: ClientRegistration | None
) -> tuple[str, str]:
    """(client_id, redirect_uri) once both are known to be safe to redirect to."""
    if registration is None:
        raise UnsafeAuthorizationRequest("unauthorized_client", "unknown client")
    if AUTHORIZATION_CODE not in registration.grant_types:
        raise UnsafeAuthorizationRequest(
            "unauthorized_client", "this client may not sign people in"
        )
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in redirect_uris_of(registration):
        raise UnsafeAuthorizationRequest(
            "invalid_request", "the redirect URI is not registered for this client"
        )
    return registration.client_id, redirect_uri


def check_authorization_request(
    params: Mapping[str, str],
    *,
    client_id: str,
    redirect_uri: str,
    client_resources: Sequence[str],
    apis: Collection[str],
) -> AuthorizationRequest:
    """`client_resources`: the APIs the client is registered for; `apis`: those this
    provider issues people's tokens for."""
    state = params.get("state")

    def fail(error: str, description: str) -> RedirectableAuthorizationError:
        return RedirectableAuthorizationError(
            error, description, redirect_uri=redirect_uri, state=state
        )

    if any(len(v) > _MAX_PARAM for v in params.values()):
        raise fail("invalid_request", "a parameter is too long")
    if params.get("response_type") != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    scopes = tuple(dict.fromkeys(params.get("scope", "").split()))
    if "openid" not in scopes:
        raise fail("invalid_scope", "scope must include openid")
    unknown = [s for s in scopes if s not in PERSON_SCOPES]
    if unknown:
        raise fail("invalid_scope", f"unknown scope: {' '.join(unknown)}")
    if not state:
        raise fail("invalid_request", "state is required (it protects the client from CSRF)")
    nonce = params.get("nonce")
    if not nonce:
        raise fail("invalid_request", "nonce is required (it binds the ID token to the request)")
    if params.get("code_challenge_method") != "S256":
        raise fail("invalid_request", "PKCE is required with code_challenge_method=S256")
    challenge = params.get("code_challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        raise fail("invalid_request", "code_challenge must be base64url(SHA-256(verifier))")
    resource = params.get("resource") or next(iter(client_resources), None)
    if resource is None:
        raise fail("invalid_target", "this client is registered for no API to get tokens for")
    if resource not in client_resources or resource not in apis:
        raise fail("invalid_target", f"this client may not get tokens for {resource!r}")
    return AuthorizationRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scopes=scopes,
        state=state,
        nonce=nonce,
        code_challenge=challenge,
        resource=resource,
    )


def person_may_use(user: User, *, allowed_roles: Collection[str] | None) -> bool:
    """Whether `user` may hold a token for an API open to `allowed_roles` (None: anyone)."""
    return allowed_roles is None or any(role in allowed_roles for role in user.roles)


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_code_redemption(
    issued: IssuedCode | None,
    *,
    client_id: str,
    redirect_uri: str | None,
    code_verifier: str | None,
    now: float,
    resource: str | None = None,
) -> IssuedCode:
    """The code's grant, if this token request may redeem it (RFC 6749 4.1.3, RFC 7636 4.6)."""
    if issued is None:
        raise InvalidGrant("the authorization code is unknown or was already used")
    if issued.expires_at <= now:
        raise InvalidGrant("the authorization code has expired")
    if issued.client_id != client_id:
        raise InvalidGrant("the authorization code was issued to another client")
    if redirect_uri != issued.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    if not code_verifier or not _VERIFIER.fullmatch(code_verifier):
        raise InvalidGrant("code_verifier is missing or malformed (RFC 7636 4.1)")
    if not hmac.compare_digest(pkce_s256(code_verifier), issued.code_challenge):
        raise InvalidGrant("code_verifier does not match the code challenge")
    if resource is not None and resource != issued.resource:
        # RFC 8707 2.2: the token request may narrow, never widen, what was authorised.
        raise InvalidTarget(f"the authorization code was issued for {issued.resource!r} only")
    return issued


def access_token_hash(access_token: str) -> str:
    """`at_hash` for ES256: left half of SHA-256 of the token, base64url (OIDC Core 3.1.3.6)."""
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def _role_claims(user: User, scopes: Sequence[str]) -> dict[str, Any]:
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims["name"] = user.name
        claims["preferred_username"] = user.username
    if "roles" in scopes:
        claims["roles"] = list(user.roles)
        claims["organisation"] = user.organisation
        claims["agency"] = user.agency
    return claims


def person_access_token_claims(
    *,
    issuer: str,
    audience: str,
    client_id: str,
    user: User,
    scopes: Sequence[str],
    now: float,
    ttl_s: int,
    token_id: str,
) -> dict[str, Any]:
    """RFC 9068 access token for a person, for one API (`aud`); `roles` is what that API
    authorises on."""
    issued = int(now)
    return {
        "iss": issuer,
        "sub": user.subject,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": token_id,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "roles": list(user.roles),
        "organisation": user.organisation,
        "agency": user.agency,
    }


def id_token_claims(
    *,
    issuer: str,
    client_id: str,
    user: User,
    grant: IssuedCode,
    access_token: str,
    now: float,
    ttl_s: int,
) -> dict[str, Any]:
    issued = int(now)
    return {
        "iss": issuer,
        "sub": user.subject,
        "aud": client_id,
        "azp": client_id,
        "iat": issued,
        "exp": issued + ttl_s,
        "auth_time": grant.auth_time,
        "nonce": grant.nonce,
        "at_hash": access_token_hash(access_token),
        **_role_claims(user, grant.scopes),
    }


def redirect_uri_with(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """The redirect URI with `params` added to its query (keeping any it already has)."""
    parts = urlsplit(redirect_uri)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
