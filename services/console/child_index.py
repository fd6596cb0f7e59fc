"""The console's client of the child index's review queue (services/childindex, contract
/tmp/prompts/contract15.md "Review queue") and of its search (`POST /v1/children/search`),
behind small ports (`ReviewIndex`, `ChildSearch`; unit tests pass fakes at the wiring point).

The console calls the index as itself: OAuth2 client credentials for its own client
`console-childindex` (scopes `children:review children:keys children:search`,
private_key_jwt), through hubkit's `call_as_service` (one fresh token when the first is
refused). The staff member who decides is named in the body (`decided_by`), never by their
own token: people's tokens are for the console's audience only. A search sends what the
person typed in the body, never in a URL, and reads back keys and scores only.

Failures, as the pages need them: no answer, a refusal, a 5xx or an answer of another shape
is `ChildIndexUnavailable` (nothing was recorded as far as the console knows; the person can
try again); 404 is `ReviewNotFound`; 409 is `ReviewAlreadyDecided`; a search the index will
not run (422) is `SearchNotSpecific`. Logs name the failure's kind and status only, never a
name, an identifier, a key or a rationale.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from services.console.domain.reviews import (
    DecisionRecorded,
    Review,
    decision_recorded_from_json,
    review_from_json,
    reviews_from_json,
)
from services.console.domain.search import ChildMatch, SearchQuery, matches_from_json
from services.console.errors import (
    ChildIndexUnavailable,
    ReviewAlreadyDecided,
    ReviewNotFound,
    SearchNotSpecific,
)
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.service_calls import ServiceCallFailed, call_as_service

__all__ = [
    "ChildSearch",
    "HttpReviewIndex",
    "NoChildSearch",
    "NoReviewIndex",
    "OpenReviewCount",
    "ReviewIndex",
]

log = logging.getLogger("safehub.console.child_index")


class ReviewIndex(Protocol):
    async def reviews(self, *, decided: bool, limit: int) -> list[Review]:
        """Open reviews (or decided ones), most likely first."""
        ...

    async def review(self, review_id: str) -> Review: ...

    async def decide(
        self, review_id: str, *, same_child: bool, decided_by: str, rationale: str
    ) -> DecisionRecorded: ...


class ChildSearch(Protocol):
    async def search(self, query: SearchQuery, *, limit: int) -> list[ChildMatch]:
        """The children the typed identifiers most likely are, best first: keys and scores.
        Raises ChildIndexUnavailable, SearchNotSpecific."""
        ...


class NoChildSearch:
    """A console wired without a child index: every search is unavailable."""

    async def search(self, query: SearchQuery, *, limit: int) -> list[ChildMatch]:
        raise ChildIndexUnavailable("no child index is configured")


class NoReviewIndex:
    """A console wired without a child index (unit tests of other pages): every call is
    unavailable."""

    async def reviews(self, *, decided: bool, limit: int) -> list[Review]:
        raise ChildIndexUnavailable("no child index is configured")

    async def review(self, review_id: str) -> Review:
        raise ChildIndexUnavailable("no child index is configured")

    async def decide(
        self, review_id: str, *, same_child: bool, decided_by: str, rationale: str
    ) -> DecisionRecorded:
        raise ChildIndexUnavailable("no child index is configured")


class HttpReviewIndex:
    def __init__(
        self,
        *,
        base_url: str,
        http: httpx.AsyncClient,
        credentials: ClientCredentials,
        timeout_s: float = 5.0,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = http
        self._credentials = credentials
        self._timeout_s = timeout_s

    async def reviews(self, *, decided: bool, limit: int) -> list[Review]:
        params = {"status": "decided" if decided else "open", "limit": str(limit)}
        response = await self._call("GET", "/v1/reviews", params=params)
        return reviews_from_json(self._answer(response))

    async def review(self, review_id: str) -> Review:
        response = await self._call("GET", f"/v1/reviews/{quote(review_id, safe='')}")
        if response.status_code == 404:
            raise ReviewNotFound("the child index has no such review")
        return review_from_json(self._answer(response))

    async def decide(
        self, review_id: str, *, same_child: bool, decided_by: str, rationale: str
    ) -> DecisionRecorded:
        response = await self._call(
            "POST",
            f"/v1/reviews/{quote(review_id, safe='')}/decision",
            json={"same_child": same_child, "decided_by": decided_by, "rationale": rationale},
        )
        if response.status_code == 404:
            raise ReviewNotFound("the child index has no such review")
        if response.status_code == 409:
            raise ReviewAlreadyDecided("the review was decided before")
        return decision_recorded_from_json(self._answer(response))

    async def search(self, query: SearchQuery, *, limit: int) -> list[ChildMatch]:
        """POST /v1/children/search (scope children:search): the typed identifiers go to the
        index in the body, never in a URL; the answer is keys and scores."""
        response = await self._call(
            "POST", "/v1/children/search", json={**query.index_body(), "limit": limit}
        )
        if response.status_code == 422:
            raise SearchNotSpecific("the child index would not search on what was typed")
        return matches_from_json(self._answer(response))

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await call_as_service(
                self._http,
                self._credentials,
                method,
                f"{self._base_url}{path}",
                json=json,
                params=params,
                timeout_s=self._timeout_s,
            )
        except ServiceCallFailed as failure:
            log.warning("child index: %s", failure)
            raise ChildIndexUnavailable("the child index did not answer") from None

    def _answer(self, response: httpx.Response) -> Any:
        if response.status_code != 200:
            log.warning(
                "child index: a refusal (status %s) for client %s",
                response.status_code,
                self._credentials.client_id,
            )
            raise ChildIndexUnavailable(f"the child index refused ({response.status_code})")
        try:
            return response.json()
        except ValueError:
            raise ChildIndexUnavailable(
                "the child index answered with something not JSON"
            ) from None


class OpenReviewCount:
    """How many reviews are open, for the navigation: asked at most once per `ttl_s` (a
    failure too, so a down index costs one slow page a period, not every page). None when
    the index could not say."""

    def __init__(
        self,
        index: ReviewIndex,
        *,
        ttl_s: float,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._index = index
        self._ttl_s = ttl_s
        self.limit = limit
        """The count is capped here: the page says 'limit or more'."""
        self._clock = clock
        self._value: int | None = None
        self._expires = float("-inf")
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """A decision changed the count: ask again next time."""
        self._expires = float("-inf")

    async def get(self) -> int | None:
        async with self._lock:
            if self._clock() >= self._expires:
                try:
                    self._value = len(await self._index.reviews(decided=False, limit=self.limit))
                except ChildIndexUnavailable:
                    self._value = None
                self._expires = self._clock() + self._ttl_s
            return self._value
