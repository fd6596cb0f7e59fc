"""The adapter's client of the child index: identifiers out over authenticated HTTP, the
children's linkage keys back (services/childindex). The adapter never holds the linkage
secret; it holds only its own client credential for the index (`children:resolve` scope).

Any failure (index or identity provider unreachable, timeout, refusal, unexpected answer)
is `ChildIndexUnavailable` (503 child-index-unavailable): nothing is published and the
integrator retries. Logs name the failure's kind and status only, never an identifier.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from services.adapters.ingest.errors import ChildIndexUnavailable
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.linkage import ChildIdentifiers
from services.hubkit.problems import problem_type_uri
from services.hubkit.service_calls import ServiceCallFailed, call_as_service

__all__ = ["HttpChildIndex"]

_log = logging.getLogger(__name__)

_INCOMPLETE = problem_type_uri("identifiers-incomplete")
_RETRY = "the child index cannot key the child now; nothing was published, retry the record"


class HttpChildIndex:
    """`ChildIndex` over HTTP: one child per /resolve call, several per /resolve-batch."""

    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        credentials: ClientCredentials,
        timeout_s: float = 5.0,
        batch_size: int = 500,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._batch_size = batch_size

    async def resolve(self, children: Sequence[ChildIdentifiers]) -> list[str | None]:
        if not children:
            return []
        if len(children) == 1:
            return [await self._one(children[0])]
        keys: list[str | None] = []
        for start in range(0, len(children), self._batch_size):
            keys += await self._many(children[start : start + self._batch_size])
        return keys

    async def _one(self, child: ChildIdentifiers) -> str | None:
        response = await self._post("/v1/children/resolve", child.to_json())
        if response.status_code == 422 and _problem_type(response) == _INCOMPLETE:
            return None
        body = self._answer(response)
        key = body.get("child_key")
        if not isinstance(key, str) or not key:
            raise self._unavailable("an answer without a key", response.status_code)
        return key

    async def _many(self, children: Sequence[ChildIdentifiers]) -> list[str | None]:
        response = await self._post(
            "/v1/children/resolve-batch", {"children": [c.to_json() for c in children]}
        )
        results = self._answer(response).get("results")
        if not isinstance(results, list) or len(results) != len(children):
            raise self._unavailable("a batch answer of the wrong length", response.status_code)
        keys: list[str | None] = []
        for result in results:
            key = result.get("child_key") if isinstance(result, dict) else None
            keys.append(key if isinstance(key, str) and key else None)
        return keys

    async def _post(self, path: str, body: Any) -> httpx.Response:
        try:
            return await call_as_service(
                self._http,
                self._credentials,
                "POST",
                f"{self._base_url}{path}",
                json=body,
                timeout_s=self._timeout_s,
            )
        except ServiceCallFailed as failure:
            _log.warning("child index: %s", failure)
            raise ChildIndexUnavailable(_RETRY) from None

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise self._unavailable("a refusal", response.status_code)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise self._unavailable("an answer that is not a JSON object", response.status_code)
        return body

    def _unavailable(self, what: str, status: int | None) -> ChildIndexUnavailable:
        _log.warning(
            "child index: %s (status %s) for client %s",
            what,
            status if status is not None else "none",
            self._credentials.client_id,
        )
        return ChildIndexUnavailable(_RETRY)


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) else None
