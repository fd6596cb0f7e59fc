"""Who may query the audit log: access tokens (JWT) checked against the identity provider's
JWKS, and the caller's roles.

The API depends on the small `ClaimsValidator` protocol only, so tests and other IdPs can
plug in. `RoleTokenValidator` is the real one: it reuses the hub's JWKS sources and error
tree from `services.hubkit.auth` (fetching, caching, key rotation, 401/403/503 mapping) and
its person-token validator, `PersonTokenValidator`, for the signature, the registered
claims and the roles. The agency claim is read too (issue 18: an IG officer reviews the
emergency access to their own agency's information); the organisation claim is not.

A token is accepted when its signature verifies with a JWKS key under an allowed asymmetric
algorithm, `iss` and `aud` match, `exp` is in the future (`nbf`/`iat` not), and it has a
`sub`. Roles come from the configured claim: a list of strings or a space-separated string.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Protocol

from services.hubkit.auth import JwksSource, PersonTokenValidator
from services.hubkit.jwt_algorithms import ACCEPTED_ALGORITHMS

__all__ = ["Claims", "ClaimsValidator", "RoleTokenValidator"]


@dataclass(frozen=True, slots=True)
class Claims:
    """The validated caller: who (token subject) and in which roles."""

    subject: str
    roles: frozenset[str]
    agency: str | None = None
    """The caller's agency code (POLICE, HEALTH, ...) from the token, or None if it names none."""


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
        agency_claim: str | None = "agency",
        algorithms: Collection[str] = ACCEPTED_ALGORITHMS,
        leeway_s: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._people = PersonTokenValidator(
            jwks=jwks,
            issuer=issuer,
            audience=audience,
            roles_claim=roles_claim,
            organisation_claim=None,
            agency_claim=agency_claim,
            algorithms=algorithms,
            leeway_s=leeway_s,
            clock=clock,
        )

    async def validate(self, token: str) -> Claims:
        person = await self._people.validate(token)
        return Claims(subject=person.subject, roles=person.roles, agency=person.agency)
