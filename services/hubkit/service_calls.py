"""Calling another hub API as this service: a bearer token from the service's own client
credentials, and one fresh token when the first is refused.

A 401 after a token was accepted before usually means the token was revoked or signed with a
key the issuer has since rotated; one new token settles that, a second 401 is a real refusal
and goes back to the caller with everything else. Transport failures and a missing token are
`ServiceCallFailed`: the caller decides whether that is transient (retry) or a refusal to act.
Never logs a body.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.hubkit.client_credentials import ClientCredentials, TokenUnavailable
from services.hubkit.errors import HubError

__all__ = ["ServiceCallFailed", "call_as_service"]


class ServiceCallFailed(HubError):
    """The call never got an HTTP answer: no token, or the connection failed or timed out."""


async def call_as_service(
    http: httpx.AsyncClient,
    credentials: ClientCredentials,
    method: str,
    url: str,
    *,
    json: Any = None,
    params: dict[str, str] | None = None,
    timeout_s: float,
) -> httpx.Response:
    """The answer to one request made with this service's access token (any status)."""
    for attempt in (1, 2):
        try:
            token = await credentials.token()
        except TokenUnavailable as error:
            raise ServiceCallFailed(
                f"no access token for {credentials.client_id}: {error}"
            ) from None
        try:
            response = await http.request(
                method,
                url,
                json=json,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
                timeout=timeout_s,
            )
        except httpx.HTTPError as error:
            raise ServiceCallFailed(f"{method} {url}: {type(error).__name__}") from None
        if response.status_code == 401 and attempt == 1:
            credentials.forget()
            continue
        return response
    raise AssertionError("unreachable")  # pragma: no cover
