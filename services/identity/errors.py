"""Identity errors: each is an RFC 6749 section 5.2 error response.

IdentityError                      400 unless stated
├── InvalidRequest                 invalid_request: a parameter is missing or repeated
├── InvalidClient             401  invalid_client: client authentication failed (unknown
│                                  client, bad assertion signature, claims, replay)
├── UnauthorizedClient             unauthorized_client: the client may not use this grant
├── UnsupportedGrantType           unsupported_grant_type
└── InvalidScope                   invalid_scope: a requested scope is not registered
"""

from __future__ import annotations

__all__ = [
    "IdentityError",
    "InvalidClient",
    "InvalidRequest",
    "InvalidScope",
    "UnauthorizedClient",
    "UnsupportedGrantType",
]


class IdentityError(Exception):
    error = "server_error"
    status = 400

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(f"{self.error}: {description}")


class InvalidRequest(IdentityError):
    error = "invalid_request"


class InvalidClient(IdentityError):
    error = "invalid_client"
    status = 401


class UnauthorizedClient(IdentityError):
    error = "unauthorized_client"


class UnsupportedGrantType(IdentityError):
    error = "unsupported_grant_type"


class InvalidScope(IdentityError):
    error = "invalid_scope"
