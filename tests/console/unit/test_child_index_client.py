"""The console's client of the child index's review queue against an in-process index and
token endpoint (httpx.MockTransport): the console's own token with its scopes, the staff
member named in the body, and each failure as the page needs it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from services.console.child_index import HttpReviewIndex, OpenReviewCount
from services.console.errors import ChildIndexUnavailable, ReviewAlreadyDecided, ReviewNotFound
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.jwt_keys import load_or_create_key
from services.hubkit.problems import problem_type_uri
from tests.console.factories import LEFT_CHILD, review_json

INDEX = "http://index.test"
TOKEN = "http://idp.test/token"

Reply = Callable[[httpx.Request], httpx.Response]


class Index:
    """The token endpoint and the index: records what it was asked, answers `reply`."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.requests: list[httpx.Request] = []
        self.scopes: list[str] = []
        self.tokens = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN:
            self.tokens += 1
            form = parse_qs(request.content.decode())
            self.scopes.append(form.get("scope", [""])[0])
            return httpx.Response(200, json={"access_token": f"t{self.tokens}", "expires_in": 300})
        assert request.headers["authorization"] == f"Bearer t{self.tokens}"
        self.requests.append(request)
        return self.reply(request)


@pytest.fixture
async def http() -> AsyncIterator[list[httpx.AsyncClient]]:
    opened: list[httpx.AsyncClient] = []
    yield opened
    for client in opened:
        await client.aclose()


def _client(tmp_path: Path, index: Index, opened: list[httpx.AsyncClient]) -> HttpReviewIndex:
    key = tmp_path / "console-childindex.pem"
    load_or_create_key(key)
    http = httpx.AsyncClient(transport=httpx.MockTransport(index.handle))
    opened.append(http)
    return HttpReviewIndex(
        base_url=f"{INDEX}/",
        http=http,
        credentials=ClientCredentials(
            http=http,
            token_endpoint=TOKEN,
            client_id="console-childindex",
            private_key_path=key,
            scope="children:review children:keys",
        ),
        timeout_s=1.0,
    )


def _problem(status: int, slug: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"type": problem_type_uri(slug), "title": slug, "status": status, "detail": slug},
        headers={"content-type": "application/problem+json"},
    )


async def test_open_reviews_are_asked_for_with_the_consoles_own_token(
    tmp_path: Path, http: list[httpx.AsyncClient]
) -> None:
    index = Index(lambda request: httpx.Response(200, json={"reviews": [review_json()]}))
    reviews = await _client(tmp_path, index, http).reviews(decided=False, limit=50)
    assert [r.review_id for r in reviews] == ["rev-0001"]
    (request,) = index.requests
    assert request.url.path == "/v1/reviews"
    assert dict(request.url.params) == {"status": "open", "limit": "50"}
    assert index.scopes == ["children:review children:keys"]


async def test_a_decision_names_the_staff_member_in_the_body(
    tmp_path: Path, http: list[httpx.AsyncClient]
) -> None:
    answer = {"review_id": "rev-0001", "status": "same_child", "child_key": LEFT_CHILD}
    index = Index(lambda request: httpx.Response(200, json=answer))
    recorded = await _client(tmp_path, index, http).decide(
        "rev-0001", same_child=True, decided_by="u-manager", rationale="Same school and DOB."
    )
    assert recorded.child_key == LEFT_CHILD
    (request,) = index.requests
    assert (request.method, request.url.path) == ("POST", "/v1/reviews/rev-0001/decision")
    assert json.loads(request.content) == {
        "same_child": True,
        "decided_by": "u-manager",
        "rationale": "Same school and DOB.",
    }


async def test_not_found_and_already_decided_are_told_apart(
    tmp_path: Path, http: list[httpx.AsyncClient]
) -> None:
    index = Index(lambda request: _problem(404, "review-not-found"))
    client = _client(tmp_path, index, http)
    with pytest.raises(ReviewNotFound):
        await client.review("rev-0404")
    with pytest.raises(ReviewNotFound):
        await client.decide("rev-0404", same_child=False, decided_by="u", rationale="x" * 10)
    index.reply = lambda request: _problem(409, "review-already-decided")
    with pytest.raises(ReviewAlreadyDecided):
        await client.decide("rev-0001", same_child=False, decided_by="u", rationale="x" * 10)


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.mark.parametrize(
    "reply",
    [
        _down,
        lambda request: httpx.Response(503, text="down"),
        lambda request: _problem(403, "forbidden"),
        lambda request: httpx.Response(200, text="not json"),
        lambda request: httpx.Response(200, json={"reviews": [{"review_id": "rev-1"}]}),
    ],
    ids=["unreachable", "5xx", "refused", "not-json", "wrong-shape"],
)
async def test_anything_else_is_the_index_unavailable(
    tmp_path: Path, http: list[httpx.AsyncClient], reply: Reply
) -> None:
    client = _client(tmp_path, Index(reply), http)
    with pytest.raises(ChildIndexUnavailable):
        await client.reviews(decided=False, limit=50)


async def test_a_refused_token_is_renewed_once(
    tmp_path: Path, http: list[httpx.AsyncClient]
) -> None:
    answers = iter([httpx.Response(401), httpx.Response(200, json={"reviews": []})])
    index = Index(lambda request: next(answers))
    assert await _client(tmp_path, index, http).reviews(decided=True, limit=5) == []
    assert index.tokens == 2


async def test_the_open_count_is_asked_at_most_once_a_period(
    tmp_path: Path, http: list[httpx.AsyncClient]
) -> None:
    index = Index(lambda request: httpx.Response(200, json={"reviews": [review_json()] * 3}))
    now = [0.0]
    count = OpenReviewCount(_client(tmp_path, index, http), ttl_s=30, limit=3, clock=lambda: now[0])
    assert await count.get() == 3
    assert await count.get() == 3
    assert len(index.requests) == 1
    index.reply = _down
    now[0] = 31.0
    assert await count.get() is None  # the index could not say: nothing shown
    assert await count.get() is None
    assert len(index.requests) == 2  # a failure is remembered for the period too
    index.reply = lambda request: httpx.Response(200, json={"reviews": []})
    count.forget()  # a decision changed the count
    assert await count.get() == 0
