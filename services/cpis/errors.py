"""Errors of the CP-IS lookup, one root; the edge maps each to an HTTP status or, for feed
items, to an explicit "skipped" outcome.

CpisError
├── RequestInvalid          422: the lookup cannot be made as asked; the reason says why
│   ├── NhsNumberInvalid    not 10 digits, or fails the modulus-11 check digit
│   └── SettingRefused      not an unscheduled care setting, or one the notice schema
│                           cannot record yet
├── FeedItemUnusable        a register feed item that is not a plan change the register can
│                           hold (no NHS number, no responsible LA, another change ...):
│                           skipped with its reason code, never stored
├── StoreError              the register's store cannot be read or written (503; retried by
│   └── StoreKeyInvalid     the consumer); the store's key file is not a 32-byte key
└── EmergencyAccessError    emergency access (issue 18), each a problem document
    ├── EmergencyRequestRefused   422: the IG rules' words (reason, paths, justification)
    ├── NothingGrantable          409: a plan is held, but nothing withheld may be given
    └── EmergencyUnavailable      503: the request or the view's audit event could not be
                                  written to the bus (nothing is shown without the event)

Token problems are `services.hubkit.auth.AuthError`s: 401, 403 (not an unscheduled care
clinician), 503 (the identity provider's keys cannot be fetched). A lookup that finds no plan
is not an error: it is a 404 that says nothing.
"""

from __future__ import annotations

__all__ = [
    "CpisError",
    "EmergencyAccessError",
    "EmergencyRequestRefused",
    "EmergencyUnavailable",
    "FeedItemUnusable",
    "NhsNumberInvalid",
    "NothingGrantable",
    "RequestInvalid",
    "SettingRefused",
    "StoreError",
    "StoreKeyInvalid",
]


class CpisError(Exception):
    """Root of the CP-IS lookup's errors. `reason` is safe to show: never personal data."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RequestInvalid(CpisError):
    #: The request parameter at fault, for the 422 answer.
    parameter = ""


class NhsNumberInvalid(RequestInvalid):
    parameter = "nhs_number"


class SettingRefused(RequestInvalid):
    parameter = "setting"


class FeedItemUnusable(CpisError):
    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        """Machine-readable reason, for the log line and the consumer's counters."""
        super().__init__(reason)


class StoreError(CpisError):
    pass


class StoreKeyInvalid(StoreError):
    pass


class EmergencyAccessError(CpisError):
    #: HTTP status and RFC 9457 problem type slug and title.
    status = 500
    slug = "emergency-access"
    title = "Emergency access failed"


class EmergencyRequestRefused(EmergencyAccessError):
    status = 422
    slug = "emergency-access-refused"
    title = "Emergency access request not allowed"


class NothingGrantable(EmergencyAccessError):
    status = 409
    slug = "emergency-access-nothing-grantable"
    title = "Nothing can be given by emergency access"

    def __init__(self) -> None:
        super().__init__(
            "the register holds nothing withheld about this child that emergency access may "
            "give your role; contact the responsible local authority (the lookup names it)"
        )


class EmergencyUnavailable(EmergencyAccessError):
    status = 503
    slug = "emergency-access-unavailable"
    title = "Emergency access unavailable"
