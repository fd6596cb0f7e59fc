"""Who may query the audit log: access tokens (JWT) checked against the identity provider's
JWKS, and the caller's roles.

The API depends on the small `ClaimsValidator` protocol only, so tests and other IdPs can
plug in. `RoleTokenValidator` is the real one: it reuses the hub's JWKS sources and error
tree from `services.hubkit.auth` (fetching, caching, key rotation, 401/403/503 mapping) and
adds what the IG API needs that the hub's agency validator does not carry: the caller's
roles. (The hub validator requires an `agency` claim and exposes scopes only; if it grows a
roles claim this module can delegate to it entirely.)

A token is accepted when its signature verifies with a JWKS key under an allowed asymmetric
algorithm, `iss` and `aud` match, `exp` is in the future (`nbf`/`iat` not), and it has a
`sub`. Roles come from the configured claim: a list of strings or a space-separated string.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Protocol

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

from services.hubkit.auth import (
    DEFAULT_ALGORITHMS,
    JwksSource,
    TokenAudienceInvalid,
    TokenClaimsInvalid,
    TokenExpired,
    TokenIssuerInvalid,
    TokenMalformed,
    TokenSignatureInvalid,
)

__all__ = ["ALGORITHMS", "Claims", "ClaimsValidator", "RoleTokenValidator"]

# Asymmetric only (the JWKS is public). "Ed25519" is the RFC 9864 name for EdDSA over
# Ed25519; joserfc warns on the deprecated polymorphic "EdDSA", so it is not accepted.
ALGORITHMS: tuple[str, ...] = (*DEFAULT_ALGORITHMS, "Ed25519")


@dataclass(frozen=True, slots=True)
class Claims:
    """The validated caller: who (token subject) and in which roles."""

    subject: str
    roles: frozenset[str]


class ClaimsValidator(Protocol):
    """Turns a bearer token into claims, or raises a `services.hubkit.auth.AuthError`."""

    async def validate(self, token: str) -> Claims: ...


class RoleTokenValidator:
    """Validates access tokens from one issuer for one audience and reads the roles claim."""

    def __init__(
        self,
        *,
        jwks: JwksSource,
        issuer: str,
        audience: str,
        roles_claim: str = "roles",
        algorithms: Collection[str] = ALGORITHMS,
        leeway_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._roles_claim = roles_claim
        self._algorithms = list(algorithms)
        self._leeway_s = leeway_s
        self._clock = clock

    async def validate(self, token: str) -> Claims:
        key_set = await self._jwks.key_set()
        try:
            decoded = self._decode(token, key_set)
        except InvalidKeyIdError:
            # The IdP may have rotated its keys since the last fetch.
            try:
                decoded = self._decode(token, await self._jwks.key_set(refresh=True))
            except InvalidKeyIdError:
                raise TokenSignatureInvalid(
                    "token is signed by a key the JWKS does not hold"
                ) from None
        return self._claims(decoded.claims)

    def _decode(self, token: str, key_set: KeySet) -> jwt.Token:
        try:
            return jwt.decode(token, key_set, algorithms=self._algorithms)
        except InvalidKeyIdError:
            raise
        except BadSignatureError:
            raise TokenSignatureInvalid("token signature does not verify") from None
        except UnsupportedAlgorithmError:
            raise TokenSignatureInvalid(
                f"token algorithm is not allowed; accepted: {', '.join(self._algorithms)}"
            ) from None
        except (DecodeError, InvalidPayloadError, ValueError):
            raise TokenMalformed("token is not a well-formed JWT") from None
        except JoseError as error:
            raise TokenSignatureInvalid(f"token cannot be verified ({error.error})") from None

    def _claims(self, claims: dict[str, Any]) -> Claims:
        registry = jwt.JWTClaimsRegistry(
            now=lambda: int(self._clock()),
            leeway=self._leeway_s,
            iss={"essential": True, "value": self._issuer},
            aud={"essential": True, "value": self._audience},
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
            if error.claim == "iss":
                raise TokenIssuerInvalid(f"token issuer is not {self._issuer!r}") from None
            if error.claim == "aud":
                raise TokenAudienceInvalid(
                    f"token audience does not include {self._audience!r}"
                ) from None
            if error.claim in ("nbf", "iat"):
                raise TokenExpired(f"token is not valid yet ({error.claim})") from None
            raise TokenClaimsInvalid(f"token claim {error.claim!r} is invalid") from None
        except ClaimError as error:
            raise TokenClaimsInvalid(f"token claim {error.claim!r} is invalid") from None
        raw = claims.get(self._roles_claim, [])
        if isinstance(raw, str):
            roles = frozenset(raw.split())
        elif isinstance(raw, list) and all(isinstance(r, str) for r in raw):
            roles = frozenset(raw)
        else:
            raise TokenClaimsInvalid(
                f"token claim {self._roles_claim!r} must be a list of strings or a string"
            )
        return Claims(subject=str(claims["sub"]), roles=roles)
