"""The device authorization grant for people at a command line (RFC 8628), e.g. an IG officer's
`safehub ig login`.

1. The CLI (a public client: it holds no secret) posts its client id to the device
   authorization endpoint and gets a `device_code` (its own, secret), a short `user_code` and
   the verification URL (`start_device_authorization`).
2. The person opens the URL in a browser, signs in with the provider's usual form, checks the
   code matches their terminal and approves (or denies) (`approve` / `deny`).
3. Meanwhile the CLI polls the token endpoint with `grant_type=urn:ietf:params:oauth:grant-
   type:device_code`; `check_device_poll` answers authorization_pending, slow_down (polled
   faster than the interval: the interval grows by 5 s, section 3.5), expired_token,
   access_denied, or, once approved, the grant a token is issued for (once: the device code
   is spent).

Pure rules (`start_device_authorization`, `check_device_poll`, `normalise_user_code`) take
`now` and generated values from the caller; `DeviceAuthorizations` is the in-memory store
(right for the one local process, like the code store in authcode.py).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from services.identity.clients import ClientRegistration
from services.identity.domain import DEVICE_CODE_GRANT
from services.identity.errors import (
    AccessDenied,
    AuthorizationPending,
    ExpiredToken,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidTarget,
    SlowDown,
    UnauthorizedClient,
)
from services.identity.grants import TokenResponse
from services.identity.oidc import PERSON_SCOPES, resources_of

__all__ = [
    "DEVICE_CODE_GRANT",
    "USER_CODE_ALPHABET",
    "DeviceAuthorization",
    "DeviceAuthorizations",
    "DeviceCodeGrant",
    "DevicePollRejected",
    "UserCodeNotAccepted",
    "check_device_poll",
    "check_user_code_entry",
    "format_user_code",
    "is_public_device_client",
    "normalise_user_code",
    "start_device_authorization",
]

# RFC 8628 6.1: consonants only (no vowels: no words), upper case, no 0/O or 1/I confusion.
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8  # 20^8 ~ 2.6e10; wrong entries are limited (user_code_attempts.py)
SLOW_DOWN_STEP_S = 5  # RFC 8628 3.5


@dataclass(frozen=True, slots=True)
class DeviceAuthorization:
    """One pending device sign-in; replaced (never changed) as the person acts and the CLI
    polls."""

    device_code: str
    user_code: str
    client_id: str
    resource: str
    scopes: tuple[str, ...]
    expires_at: float
    interval_s: int
    last_poll_at: float | None = None
    approved_subject: str | None = None
    denied: bool = False


def normalise_user_code(text: str) -> str:
    """What a person typed, as stored: upper case, without the dash or spaces."""
    return re.sub(r"[\s-]", "", text).upper()


def format_user_code(code: str) -> str:
    """`BCDF-GHJK`: easier to read out and compare."""
    return f"{code[:4]}-{code[4:]}" if len(code) == USER_CODE_LENGTH else code


def is_public_device_client(registration: ClientRegistration | None) -> bool:
    return (
        registration is not None
        and DEVICE_CODE_GRANT in registration.grant_types
        and registration.extra.get("token_endpoint_auth_method") == "none"
    )


def start_device_authorization(
    form: Mapping[str, str],
    registration: ClientRegistration | None,
    *,
    apis: Mapping[str, object],
    device_code: str,
    user_code: str,
    now: float,
    ttl_s: int,
    interval_s: int,
) -> DeviceAuthorization:
    """The device authorization request (RFC 8628 3.1) checked: a registered public client
    allowed this grant, scopes a person may be given, and one API it is registered for."""
    if not is_public_device_client(registration):
        raise InvalidClient("unknown client, or not a command-line client for the device grant")
    assert registration is not None
    scopes = tuple(dict.fromkeys(form.get("scope", "openid roles").split()))
    unknown = [s for s in scopes if s not in PERSON_SCOPES]
    if unknown:
        raise InvalidRequest(f"unknown scope: {' '.join(unknown)}")
    registered = resources_of(registration)
    resource = form.get("resource") or next(iter(registered), None)
    if resource is None or resource not in registered or resource not in apis:
        raise InvalidTarget(f"this client may not get tokens for {resource!r}")
    return DeviceAuthorization(
        device_code=device_code,
        user_code=user_code,
        client_id=registration.client_id,
        resource=resource,
        scopes=scopes,
        expires_at=now + ttl_s,
        interval_s=interval_s,
    )


def check_device_poll(
    found: DeviceAuthorization | None, *, client_id: str, now: float
) -> DeviceAuthorization:
    """The approved authorization a token may be issued for now (RFC 8628 3.4, 3.5). Any
    other poll raises its answer: a final one (expired_token, access_denied, invalid_grant)
    as itself; a "not yet" one (authorization_pending, slow_down) as `DevicePollRejected`,
    carrying the authorization as this poll left it (its time, a longer interval), which
    the caller stores so the next poll is measured against it."""
    if found is None or found.client_id != client_id:
        raise InvalidGrant("the device code is unknown or was already used")
    if found.expires_at <= now:
        raise ExpiredToken("the device code has expired; run the sign-in again")
    if found.denied:
        raise AccessDenied("the sign-in was not approved")
    polled = dataclasses.replace(found, last_poll_at=now)
    if found.last_poll_at is not None and now - found.last_poll_at < found.interval_s:
        slower = dataclasses.replace(polled, interval_s=found.interval_s + SLOW_DOWN_STEP_S)
        raise DevicePollRejected(slower, SlowDown(f"poll at most every {slower.interval_s}s"))
    if found.approved_subject is None:
        raise DevicePollRejected(
            polled, AuthorizationPending("waiting for the person to approve in the browser")
        )
    return polled


def _answered(item: DeviceAuthorization) -> bool:
    return item.approved_subject is not None or item.denied


def check_user_code_entry(found: DeviceAuthorization | None, *, now: float) -> DeviceAuthorization:
    """The sign-in a code typed on the verification page may answer: one that exists, has
    not expired and has not been answered (a user code is single-use). Each refusal says
    what the person can do about it."""
    if found is None:
        raise UserCodeNotAccepted(
            "unknown",
            "That code is not right, or has expired. Check the code in your terminal.",
        )
    if found.expires_at <= now:
        raise UserCodeNotAccepted(
            "expired",
            "That code has expired. Run the sign-in command again to get a new code.",
        )
    if _answered(found):
        raise UserCodeNotAccepted(
            "used",
            "That code has already been used. Run the sign-in command again to get a new code.",
        )
    return found


class UserCodeNotAccepted(Exception):
    """A code typed on the verification page that answers no sign-in: `why` is "unknown",
    "expired" or "used"; the message is for the person."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why
        self.message = message


class DevicePollRejected(Exception):
    """A poll that is answered with an error but still changes the authorization (its last
    poll time or interval)."""

    def __init__(self, updated: DeviceAuthorization, answer: Exception) -> None:
        super().__init__(str(answer))
        self.updated = updated
        self.answer = answer


class DeviceAuthorizations:
    """Pending device sign-ins by device code, findable by user code; expired ones dropped."""

    def __init__(self) -> None:
        self._by_device: dict[str, DeviceAuthorization] = {}
        self._lock = threading.Lock()

    def put(self, item: DeviceAuthorization, *, now: float) -> None:
        with self._lock:
            for stale in [k for k, v in self._by_device.items() if v.expires_at <= now]:
                del self._by_device[stale]
            self._by_device[item.device_code] = item

    def get(self, device_code: str) -> DeviceAuthorization | None:
        with self._lock:
            return self._by_device.get(device_code)

    def take(self, device_code: str) -> DeviceAuthorization | None:
        with self._lock:
            return self._by_device.pop(device_code, None)

    def by_user_code(self, user_code: str) -> DeviceAuthorization | None:
        """The sign-in with this user code, whatever its state (expired, answered): the page
        tells the person which (`check_user_code_entry`)."""
        wanted = normalise_user_code(user_code)
        with self._lock:
            for item in self._by_device.values():
                if item.user_code == wanted:
                    return item
        return None

    def decide(self, device_code: str, *, subject: str | None, now: float) -> bool:
        """Record the person's answer: approved as `subject`, or denied (None). False, and
        nothing changed, when the sign-in was answered already or has expired: a user code
        is answered once, even when two answers race (the password check between the page's
        look-up and this call is slow)."""
        with self._lock:
            item = self._by_device.get(device_code)
            if item is None or _answered(item) or item.expires_at <= now:
                return False
            self._by_device[device_code] = (
                dataclasses.replace(item, approved_subject=subject)
                if subject is not None
                else dataclasses.replace(item, denied=True)
            )
            return True


class _AccessTokens(Protocol):
    """What the grant needs of the token issuer (authcode.PersonTokenIssuer)."""

    def issue_access_token(
        self, *, subject: str, client_id: str, resource: str, scopes: tuple[str, ...]
    ) -> TokenResponse: ...


class DeviceCodeGrant:
    """The token endpoint's `grant_type=urn:ietf:params:oauth:grant-type:device_code`."""

    grant_type = DEVICE_CODE_GRANT

    def __init__(
        self,
        *,
        clients: Callable[[str], ClientRegistration | None],
        pending: DeviceAuthorizations,
        issuer: _AccessTokens,
        clock: Callable[[], float],
    ) -> None:
        self._clients = clients
        self._pending = pending
        self._issuer = issuer
        self._clock = clock

    def handle(self, form: Mapping[str, str]) -> TokenResponse:
        client_id = form.get("client_id", "")
        registration = self._clients(client_id) if client_id else None
        if not is_public_device_client(registration):
            raise UnauthorizedClient("this client may not use the device_code grant")
        device_code = form.get("device_code")
        if not device_code:
            raise InvalidRequest("device_code is required")
        now = self._clock()
        try:
            polled = check_device_poll(self._pending.get(device_code), client_id=client_id, now=now)
        except DevicePollRejected as rejected:
            self._pending.put(rejected.updated, now=now)
            raise rejected.answer from None
        except (ExpiredToken, AccessDenied):
            self._pending.take(device_code)  # a final answer: the code is spent
            raise
        # Approved: spent now, so a second poll cannot get a second token.
        if self._pending.take(device_code) is None:
            raise InvalidGrant("the device code is unknown or was already used")
        assert polled.approved_subject is not None
        return self._issuer.issue_access_token(
            subject=polled.approved_subject,
            client_id=polled.client_id,
            resource=polled.resource,
            scopes=polled.scopes,
        )
