"""The gateway's client of the child index (POST /v1/context) against an in-process index
and token endpoint (httpx.MockTransport): the contexts of every child asked, or a
ChildContextUnavailable with its kind, never fewer children and never a guess."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.gateway.child_context_client import HttpChildContext, checked_context
from services.gateway.errors import ChildContextUnavailable
from services.hubkit.auth import CHILD_CONTEXT_SCOPE
from services.hubkit.child_context import empty_context
from services.hubkit.client_credentials import ClientCredentials
from services.hubkit.jwt_keys import load_or_create_key

INDEX = "http://index.test"
TOKEN = "http://idp.test/token"
ALICE, BOBBY = "a" * 64, "b" * 64


def _observation(child: str, notice_id: str) -> dict[str, Any]:
    return {"notice_id": notice_id, "child_key": child, "agency": "POLICE"}


class Index:
    """The token endpoint and the index: records what it was sent, answers `reply`."""

    def __init__(self, reply: Callable[[dict[str, Any]], httpx.Response] | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.tokens = 0
        self.scopes: list[str] = []
        self.reply = reply or self.contexts_of

    def contexts_of(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.Response(
            200, json={"contexts": {child: empty_context(child) for child in body["children"]}}
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN:
            self.tokens += 1
            form = dict(pair.split("=", 1) for pair in request.content.decode().split("&"))
            self.scopes.append(form.get("scope", ""))
            return httpx.Response(200, json={"access_token": f"t{self.tokens}", "expires_in": 300})
        assert str(request.url) == f"{INDEX}/v1/context"
        assert request.headers["authorization"] == f"Bearer t{self.tokens}"
        body = json.loads(request.content)
        self.bodies.append(body)
        return self.reply(body)


def _client(tmp_path: Path, index: Index, **options: Any) -> HttpChildContext:
    key = tmp_path / "gateway-childindex.pem"
    load_or_create_key(key)
    http = httpx.AsyncClient(transport=httpx.MockTransport(index.handle))
    return HttpChildContext(
        base_url=f"{INDEX}/",
        http=http,
        credentials=ClientCredentials(
            http=http,
            token_endpoint=TOKEN,
            client_id="gateway-childindex",
            private_key_path=key,
            scope=CHILD_CONTEXT_SCOPE,
        ),
        timeout_s=1.0,
        owns_http=True,
        **options,
    )


async def _ask(client: HttpChildContext, children: list[str]) -> dict[str, Any]:
    try:
        observations = [_observation(child, f"n{i}") for i, child in enumerate(children)]
        return await client.contexts(observations, children)
    finally:
        await client.close()


async def _refused_with(tmp_path: Path, response: httpx.Response) -> ChildContextUnavailable:
    client = _client(tmp_path, Index(lambda _: response))
    with pytest.raises(ChildContextUnavailable) as caught:
        await _ask(client, [ALICE])
    return caught.value


async def test_one_request_records_the_observations_and_answers_every_child(
    tmp_path: Path,
) -> None:
    index = Index()
    answer = await _ask(_client(tmp_path, index), [ALICE, BOBBY])
    assert answer == {ALICE: empty_context(ALICE), BOBBY: empty_context(BOBBY)}
    assert index.bodies == [
        {
            "observations": [_observation(ALICE, "n0"), _observation(BOBBY, "n1")],
            "children": [ALICE, BOBBY],
        }
    ]
    assert index.scopes == [CHILD_CONTEXT_SCOPE.replace(":", "%3A")]


async def test_nothing_is_asked_for_no_children(tmp_path: Path) -> None:
    index = Index()
    assert await _ask(_client(tmp_path, index), []) == {}
    assert index.bodies == []


async def test_a_large_batch_is_split_so_no_request_passes_the_index_limits(
    tmp_path: Path,
) -> None:
    index = Index()
    children = [f"{i:064x}" for i in range(5)]
    answer = await _ask(_client(tmp_path, index, max_children=2), children)
    assert sorted(answer) == children
    assert [body["children"] for body in index.bodies] == [
        children[:2],
        children[2:4],
        children[4:],
    ]
    for body in index.bodies:
        assert [o["child_key"] for o in body["observations"]] == body["children"]


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(503), "child_index_server_error"),
        (httpx.Response(500, text="boom"), "child_index_server_error"),
        (httpx.Response(403, json={"type": "forbidden"}), "child_index_refused"),
        (httpx.Response(413), "child_index_refused"),
        (httpx.Response(200, text="not json"), "child_index_bad_answer"),
        (httpx.Response(200, json=[]), "child_index_bad_answer"),
        (httpx.Response(200, json={"contexts": []}), "child_index_bad_answer"),
        (httpx.Response(200, json={"contexts": {}}), "child_index_bad_answer"),
        (
            httpx.Response(200, json={"contexts": {BOBBY: empty_context(BOBBY)}}),
            "child_index_bad_answer",
        ),
        (httpx.Response(200, json={"contexts": {ALICE: None}}), "child_index_bad_answer"),
    ],
)
async def test_anything_but_every_childs_context_is_a_failure(
    tmp_path: Path, response: httpx.Response, kind: str
) -> None:
    assert (await _refused_with(tmp_path, response)).kind == kind


async def test_a_refused_token_is_renewed_once_then_the_refusal_stands(tmp_path: Path) -> None:
    index = Index(lambda _: httpx.Response(401))
    with pytest.raises(ChildContextUnavailable) as caught:
        await _ask(_client(tmp_path, index), [ALICE])
    assert caught.value.kind == "child_index_refused"
    assert index.tokens == 2
    assert len(index.bodies) == 2


async def test_an_unreachable_index_or_token_endpoint_is_unreachable(tmp_path: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    key = tmp_path / "k.pem"
    load_or_create_key(key)
    http = httpx.AsyncClient(transport=httpx.MockTransport(down))
    client = HttpChildContext(
        base_url=INDEX,
        http=http,
        credentials=ClientCredentials(
            http=http, token_endpoint=TOKEN, client_id="gateway-childindex", private_key_path=key
        ),
        timeout_s=1.0,
        owns_http=True,
    )
    with pytest.raises(ChildContextUnavailable) as caught:
        await _ask(client, [ALICE])
    assert caught.value.kind == "child_index_unreachable"
    assert http.is_closed


async def test_without_its_private_key_the_gateway_gets_no_context(tmp_path: Path) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(Index().handle))
    client = HttpChildContext(
        base_url=INDEX,
        http=http,
        credentials=ClientCredentials(
            http=http,
            token_endpoint=TOKEN,
            client_id="gateway-childindex",
            private_key_path=tmp_path / "absent.pem",
        ),
        timeout_s=1.0,
    )
    with pytest.raises(ChildContextUnavailable) as caught:
        await _ask(client, [ALICE])
    assert caught.value.kind == "child_index_unreachable"
    assert not http.is_closed  # not its own: the caller closes it
    await http.aclose()


def _context(**fields: Any) -> dict[str, Any]:
    return {**empty_context(ALICE), **fields}


def test_a_well_formed_context_passes_with_its_episode_starts_as_notices_render_times() -> None:
    episodes = [
        {
            "agency": "POLICE",
            "status": "REPORTED",
            "risk_grade": "LOW",
            "notice_id": "n1",
            "started_at": "2026-11-19T08:00:00Z",
        },
        {
            "agency": "CHILDRENS_SERVICES",
            "status": "RETURNED",
            "risk_grade": None,
            "notice_id": "n2",
            "started_at": None,
        },
    ]
    context = _context(
        exploitation={"flagged": True, "flagged_by": ["HEALTH"], "types": ["SEXUAL"]},
        missing_episodes=episodes,
        looked_after=True,
        placing_la="LA-E09000001",
        school_urn="URN-999999",
    )
    checked = checked_context(context)
    assert checked["missing_episodes"][0]["started_at"] == "2026-11-19T08:00:00.000+00:00"
    assert checked["missing_episodes"][1]["started_at"] is None
    assert {k: v for k, v in checked.items() if k != "missing_episodes"} == {
        k: v for k, v in context.items() if k != "missing_episodes"
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"exploitation": None},
        {"exploitation": {"flagged": "yes"}},
        {"missing_episodes": None},
        {"missing_episodes": ["2026-11-19"]},
        {"missing_episodes": [{"started_at": "yesterday"}]},
        {"missing_episodes": [{"started_at": "2026-11-19T08:00:00"}]},
        {"looked_after": "true"},
        {"cp_plan": 1},
        {"responsible_la": 7},
        {"school_urn": ["URN-999999"]},
    ],
)
def test_a_context_the_rules_would_misread_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(ChildContextUnavailable) as caught:
        checked_context(_context(**fields))
    assert caught.value.kind == "child_index_bad_answer"
