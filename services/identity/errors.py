"""Identity errors: each is an RFC 6749 section 5.2 error response.

IdentityError                      400 unless stated
├── InvalidRequest                 invalid_request: a parameter is missing or repeated
├── InvalidClient             401  invalid_client: client authentication failed (unknown
│                                  client, bad assertion signature, claims, replay)
├── UnauthorizedClient             unauthorized_client: the client may not use this grant
├── UnsupportedGrantType           unsupported_grant_type
├── InvalidScope                   invalid_scope: a requested scope is not registered
├── InvalidGrant                   invalid_grant: the authorization code is unknown, used,
│                                  expired, issued to another client or redirect URI, or
│                                  the PKCE code verifier does not match
├── InvalidTarget                  invalid_target (RFC 8707): the token would be for an API
│                                  the client is not registered for, or the person may not
│                                  use, or not the one the code was issued for
└── DevicePollError                the device grant's answers while it is polled (RFC 8628
    │                              3.5): the CLI keeps polling, slows down or gives up
    ├── AuthorizationPending       authorization_pending: the person has not approved yet
    ├── SlowDown                   slow_down: polled faster than the interval (+5 s each time)
    ├── ExpiredToken               expired_token: the device code expired; start again
    └── AccessDenied               access_denied: the person said no, or may not use the API

ClientRegistryInvalid              the declared client registry (SAFEHUB_IDENTITY_CLIENTS_FILE)
                                   cannot be used: the provider does not start (not a response)

AuthorizationRequestError          the /authorize request itself is wrong (RFC 6749 4.1.2.1)
├── UnsafeAuthorizationRequest     unknown client or unregistered redirect URI: shown to the
│                                  person, never redirected (it could be an open redirector)
└── RedirectableAuthorizationError sent back to the client's registered redirect URI with
                                   `error` and `state`
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "AuthorizationPending",
    "AuthorizationRequestError",
    "ClientRegistryInvalid",
    "DevicePollError",
    "ExpiredToken",
    "IdentityError",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "RedirectableAuthorizationError",
    "SlowDown",
    "UnauthorizedClient",
    "UnsafeAuthorizationRequest",
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


class InvalidGrant(IdentityError):
    error = "invalid_grant"


class InvalidTarget(IdentityError):
    error = "invalid_target"


class DevicePollError(IdentityError):
    """An answer to a device-code token request that is not a token (RFC 8628 3.5)."""


class AuthorizationPending(DevicePollError):
    error = "authorization_pending"


class SlowDown(DevicePollError):
    error = "slow_down"


class ExpiredToken(DevicePollError):
    error = "expired_token"


class AccessDenied(DevicePollError):
    error = "access_denied"


class ClientRegistryInvalid(Exception):
    """The declared client registry is unreadable or breaks its format; `reason` names the
    file, the client and what to fix."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class AuthorizationRequestError(Exception):
    """A bad request to the authorization endpoint; `error` is the RFC 6749 4.1.2.1 code."""

    def __init__(self, error: str, description: str) -> None:
        self.error = error
        self.description = description
        super().__init__(f"{error}: {description}")


class UnsafeAuthorizationRequest(AuthorizationRequestError):
    pass


class RedirectableAuthorizationError(AuthorizationRequestError):
    def __init__(self, error: str, description: str, *, redirect_uri: str, state: str | None):
        super().__init__(error, description)
        self.redirect_uri = redirect_uri
        self.state = state
