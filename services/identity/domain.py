"""Pure rules of the token endpoint: client assertion checks and access-token claims.

Client assertion (RFC 7523 section 3, as used by `private_key_jwt`, OIDC Core 9):
`iss` and `sub` are the client id; `aud` names the token endpoint (or the issuer); `exp` is
in the future and at most `max_lifetime_s` away; `jti` is present and not used before
(replay is checked by the caller's cache); `nbf`/`iat`, when present, are not in the future.

Access token (RFC 9068 shape, header typ 'at+jwt'): iss, sub = client_id, aud, iat, nbf,
exp, jti, client_id, scope (space-separated) and the hub's `agency` claim.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.identity.errors import InvalidClient, InvalidScope

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "DEVICE_CODE_GRANT",
    "access_token_claims",
    "check_assertion_claims",
    "granted_scopes",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# RFC 8628 3.4: the grant a command-line client polls the token endpoint with (device.py).
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidClient(f"client assertion claim {name!r} must be a number")
    return float(value)


def check_assertion_claims(
    claims: Mapping[str, Any],
    *,
    client_id: str,
    audiences: Iterable[str],
    now: float,
    max_lifetime_s: int,
    leeway_s: int,
) -> str:
    """Check a verified assertion's claims; returns its jti."""
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("client assertion iss and sub must both be the client id")
    aud = claims.get("aud")
    auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    accepted = set(audiences)
    if not any(a in accepted for a in auds):
        raise InvalidClient(
            f"client assertion aud must name the token endpoint ({', '.join(sorted(accepted))})"
        )
    exp = _number(claims, "exp")
    if exp is None:
        raise InvalidClient("client assertion has no exp")
    if exp <= now - leeway_s:
        raise InvalidClient("client assertion has expired")
    if exp - now > max_lifetime_s + leeway_s:
        raise InvalidClient(f"client assertion lives longer than {max_lifetime_s}s")
    for name in ("nbf", "iat"):
        value = _number(claims, name)
        if value is not None and value > now + leeway_s:
            raise InvalidClient(f"client assertion {name} is in the future")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise InvalidClient("client assertion has no jti")
    return jti


def granted_scopes(requested: str | None, registered: Sequence[str]) -> list[str]:
    """The scopes to grant: all registered ones by default, else the requested subset."""
    if not requested or not requested.strip():
        return list(registered)
    wanted = list(dict.fromkeys(requested.split()))
    unknown = [s for s in wanted if s not in registered]
    if unknown:
        raise InvalidScope(f"scope not registered for this client: {' '.join(unknown)}")
    return wanted


def access_token_claims(
    *,
    issuer: str,
    audience: str,
    client_id: str,
    agency: str,
    scopes: Sequence[str],
    now: float,
    ttl_s: int,
    token_id: str,
) -> dict[str, Any]:
    issued = int(now)
    return {
        "iss": issuer,
        "sub": client_id,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_s,
        "jti": token_id,
        "client_id": client_id,
        "scope": " ".join(scopes),
        "agency": agency,
    }
