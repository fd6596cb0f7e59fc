"""Signing a person in at a command line: the client side of the device authorization grant
(RFC 8628), against the hub's identity provider or any that offers it.

`start_device_signin` asks the device authorization endpoint (found in the issuer's
discovery document) for a code; the caller shows the person the verification URL and user
code; `poll_for_token` polls the token endpoint at the interval the provider asked for,
slowing down when told to (section 3.5), until the person approves (a token), denies, or the
code expires (`DeviceSignInFailed`, with a reason a person can act on).

authlib has the server side of RFC 8628 (for its own authorization server) but no client
poller, so this is one small loop over httpx; `sleep` and `clock` are passed in so tests run
it without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from services.hubkit.errors import HubError

__all__ = [
    "DEVICE_CODE_GRANT",
    "DeviceCode",
    "DeviceSignInFailed",
    "DeviceToken",
    "poll_for_token",
    "start_device_signin",
]

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
_SLOW_DOWN_STEP_S = 5


class DeviceSignInFailed(HubError):
    """The sign-in did not give a token: denied, expired, refused, or the provider is
    unreachable or does not offer the device grant. The message says which."""


@dataclass(frozen=True, slots=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_at: float
    interval_s: int
    token_endpoint: str


@dataclass(frozen=True, slots=True)
class DeviceToken:
    access_token: str
    expires_at: float
    scope: str


def _json(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise DeviceSignInFailed(
            f"{answer.request.url} answered {answer.status_code} without a JSON object"
        )
    return body


async def start_device_signin(
    http: httpx.AsyncClient,
    *,
    issuer: str,
    client_id: str,
    resource: str,
    scope: str = "openid roles",
    clock: Callable[[], float] = time.time,
) -> DeviceCode:
    """Ask `issuer` for a device code for `client_id`, for a token for the API `resource`."""
    try:
        metadata = _json(await http.get(f"{issuer}/.well-known/openid-configuration"))
        endpoint = metadata.get("device_authorization_endpoint")
        if not isinstance(endpoint, str):
            raise DeviceSignInFailed(
                f"the identity provider {issuer} does not offer sign-in at a command line "
                "(no device_authorization_endpoint in its discovery document)"
            )
        answer = await http.post(
            endpoint, data={"client_id": client_id, "scope": scope, "resource": resource}
        )
    except httpx.HTTPError as error:
        raise DeviceSignInFailed(
            f"cannot reach the identity provider at {issuer} ({type(error).__name__}); is it "
            "running (`safehub demo` or `safehub identity serve`)?"
        ) from None
    body = _json(answer)
    if answer.status_code != 200:
        raise DeviceSignInFailed(
            f"the identity provider refused: {body.get('error')}: {body.get('error_description')}"
        )
    try:
        return DeviceCode(
            device_code=str(body["device_code"]),
            user_code=str(body["user_code"]),
            verification_uri=str(body["verification_uri"]),
            verification_uri_complete=body.get("verification_uri_complete"),
            expires_at=clock() + float(body["expires_in"]),
            interval_s=int(body.get("interval", 5)),
            token_endpoint=str(metadata["token_endpoint"]),
        )
    except (KeyError, TypeError, ValueError):
        raise DeviceSignInFailed("the identity provider's answer is missing fields") from None


async def poll_for_token(
    http: httpx.AsyncClient,
    code: DeviceCode,
    *,
    client_id: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> DeviceToken:
    """Poll until the person has approved (the token) or the sign-in has ended."""
    interval = code.interval_s
    while True:
        if clock() >= code.expires_at:
            raise DeviceSignInFailed("the code expired before it was approved; sign in again")
        await sleep(interval)
        try:
            answer = await http.post(
                code.token_endpoint,
                data={
                    "grant_type": DEVICE_CODE_GRANT,
                    "device_code": code.device_code,
                    "client_id": client_id,
                },
            )
        except httpx.HTTPError as error:
            raise DeviceSignInFailed(
                f"lost the identity provider while waiting ({type(error).__name__})"
            ) from None
        body = _json(answer)
        if answer.status_code == 200 and isinstance(body.get("access_token"), str):
            return DeviceToken(
                access_token=body["access_token"],
                expires_at=clock() + float(body.get("expires_in", 0)),
                scope=str(body.get("scope", "")),
            )
        answer_code = body.get("error")
        if answer_code == "authorization_pending":
            continue
        if answer_code == "slow_down":
            interval += _SLOW_DOWN_STEP_S
            continue
        if answer_code == "access_denied":
            raise DeviceSignInFailed(
                "the sign-in was denied in the browser, or your roles do not allow this service"
            )
        if answer_code == "expired_token":
            raise DeviceSignInFailed("the code expired before it was approved; sign in again")
        raise DeviceSignInFailed(
            f"the identity provider refused: {answer_code}: {body.get('error_description')}"
        )
