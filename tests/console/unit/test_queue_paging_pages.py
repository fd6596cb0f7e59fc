"""Paging the queue at the HTTP edge: "Next page" and "Previous page" carry a position
(keyset paging), a page number alone still works, and a mangled position starts over."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from services.console.app import create_app
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import NOW, entry

CONTACTS = [entry(risk="MEDIUM", received_at=NOW - dt.timedelta(minutes=n)) for n in range(12)]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    settings = ConsoleSettings(
        base_url="http://console.test", issuer="http://idp.test", page_size=5
    )
    signin, sent = FakeSignIn(), Sent()
    projections = feed_projections(settings, CONTACTS)

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(settings, sessions, projections=projections, signin=signin, sent=sent)

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as client:
            signin.next = PEOPLE["manager"]
            await client.get("/login")
            await client.get("/auth/callback")
            yield client


def _rows(page: str) -> list[str]:
    return re.findall(r'href="/items/([0-9a-f-]{36})"', page)


def _link(page: str, rel: str) -> str:
    found = re.search(rf'<a href="(/queue\?[^"]+)" rel="{rel}">', page)
    assert found is not None, f"no {rel} link"
    return found.group(1).replace("&amp;", "&")


async def test_next_and_previous_carry_a_position_and_match_the_numbered_pages(
    http: httpx.AsyncClient,
) -> None:
    numbered = [_rows((await http.get(f"/queue?page={n}")).text) for n in (1, 2, 3)]
    assert [len(rows) for rows in numbered] == [5, 5, 2]
    first = (await http.get("/queue")).text
    second_link = _link(first, "next")
    assert "after=" in second_link
    assert "page=2" in second_link
    second = (await http.get(second_link)).text
    assert _rows(second) == numbered[1]
    assert "Page 2 of 3" in second
    third = (await http.get(_link(second, "next"))).text
    assert _rows(third) == numbered[2]
    back = (await http.get(_link(third, "prev"))).text
    assert "before=" in _link(third, "prev")
    assert _rows(back) == numbered[1]
    assert _link(back, "prev").endswith("page=1")  # the first page needs no position


async def test_a_mangled_position_is_ignored(http: httpx.AsyncClient) -> None:
    page_two = _rows((await http.get("/queue?page=2")).text)
    for junk in ("x", "1.2.3", "1.2.3.4.<script>", "9" * 200):
        answer = await http.get("/queue", params={"page": "2", "after": junk})
        assert answer.status_code == 200
        assert _rows(answer.text) == page_two
