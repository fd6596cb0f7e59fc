"""Finding a child at the console's HTTP edge (issue 16), with a fake child index search at the
wiring point (the client itself is tested against the real index in
test_review_queue_contract.py): a purpose first, what the index is sent, only children in the
person's own feed shown, the CHILD_SEARCHED audit record written before any result is shown
(and nothing shown without it), nothing typed in URLs or the audit record; and the page asked
for before signing in comes back after, never another site."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from services.console.app import create_app
from services.console.domain.search import ChildMatch, SearchQuery
from services.console.errors import ChildIndexUnavailable
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import check_console_access
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import (
    PEOPLE,
    FakeSignIn,
    Sent,
    feed_projections,
    page_runtime,
)
from tests.console.factories import CHILD, OTHER_CHILD, entry

NEWER_KEY = "e" * 64  # the index merged CHILD into it; the console has not heard yet
CONTACT = entry(
    risk="HIGH",
    given_name="Avery",
    family_name="Dunmore",
    extra={
        "subject": {
            "linkage_key": CHILD,
            "given_name": "Avery",
            "family_name": "Dunmore",
            "date_of_birth": "2014-03-09",
            "age_years": 12,
        }
    },
)
ELSEWHERE = entry(
    linkage_key=OTHER_CHILD, given_name="Blake", subscriber_id="mash-police-researcher"
)
TYPED = {
    "purpose": "SCREENING_CONTACT",
    "given_name": "Avery",
    "family_name": "Dunmore",
    "dob_day": "9",
    "dob_month": "3",
    "dob_year": "2014",
}


@dataclass
class FakeSearch:
    matches: list[ChildMatch] = field(default_factory=list)
    asked: list[tuple[SearchQuery, int]] = field(default_factory=list)
    down: bool = False

    async def search(self, query: SearchQuery, *, limit: int) -> list[ChildMatch]:
        if self.down:
            raise ChildIndexUnavailable("the child index did not answer")
        self.asked.append((query, limit))
        return self.matches


class FailingRecorder(Sent):
    async def record(self, record: Mapping[str, Any]) -> None:
        raise TimeoutError("the broker did not acknowledge")


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    sent: Sent
    index: FakeSearch

    async def sign_in(self, who: str) -> httpx.Response:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        return await self.http.get("/auth/callback")

    async def search(self, **form: str) -> httpx.Response:
        page = await self.http.get("/search")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf is not None
        return await self.http.post("/search", data={"csrf_token": csrf.group(1), **form})

    def searches(self) -> list[Mapping[str, Any]]:
        return [r for r in self.sent.refusals if r["event"] == "CHILD_SEARCHED"]


async def _console(recorder: Sent | None = None) -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent = FakeSignIn(), recorder or Sent()
    index = FakeSearch(
        [
            ChildMatch(NEWER_KEY, (CHILD, NEWER_KEY), 0.99, "strong"),
            ChildMatch(OTHER_CHILD, (OTHER_CHILD,), 0.8, "possible"),  # not in the manager's feed
        ]
    )
    projections = feed_projections(settings, (CONTACT, ELSEWHERE))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=signin,
            sent=sent,
            child_search=index,
        )

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, sent, index)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async for running in _console():
        yield running


def _results(html: str) -> str:
    found = re.search(r'<section aria-labelledby="results-title".*?</section>', html, re.S)
    return found.group(0) if found else ""


async def test_the_search_page_asks_why_first(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get("/search")
    assert page.status_code == 200
    assert '<a href="/search" aria-current="page">Find a child</a>' in page.text
    assert "Why are you searching?" in page.text
    for purpose in ("Screening a contact", "Checking for an existing referral or open case"):
        assert purpose in page.text
    assert 'method="post" action="/search"' in page.text  # never a GET: no terms in URLs
    assert (await console.http.get("/queue")).text.count('href="/search"') == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({**TYPED, "purpose": ""}, "Choose why you are searching"),
        ({**TYPED, "purpose": "CURIOSITY"}, "Choose why you are searching"),
        ({"purpose": "SCREENING_CONTACT", "family_name": "Dunmore"}, "Enter an NHS number"),
        ({**TYPED, "nhs_number": "943 476 5918"}, "Enter a valid 10-digit NHS number"),
        ({**TYPED, "dob_month": ""}, "Enter the date of birth as day, month and year"),
        ({**TYPED, "dob_month": "13"}, "Enter a real date of birth"),
        ({**TYPED, "dob_year": "2099"}, "must be in the past"),
    ],
)
async def test_an_incomplete_search_is_explained_and_goes_nowhere(
    console: Console, form: dict[str, str], message: str
) -> None:
    await console.sign_in("manager")
    answer = await console.search(**form)
    assert answer.status_code == 400
    assert message in answer.text
    assert 'class="error-summary"' in answer.text
    assert console.index.asked == []
    assert console.searches() == []


async def test_a_search_without_the_sessions_token_is_refused(console: Console) -> None:
    await console.sign_in("manager")
    forged = await console.http.post("/search", data={"csrf_token": "forged", **TYPED})
    assert forged.status_code == 403
    assert console.index.asked == []


async def test_a_search_shows_only_children_in_the_feed_after_auditing_it(
    console: Console,
) -> None:
    await console.sign_in("manager")
    answer = await console.search(**TYPED, nhs_number="943 476 5919")
    assert answer.status_code == 200
    (query, limit), *_ = console.index.asked
    assert query.index_body() == {
        "given_name": "Avery",
        "family_name": "Dunmore",
        "date_of_birth": "2014-03-09",
        "nhs_number": "943 476 5919",
    }
    assert limit == 10
    results = _results(answer.text)
    assert "1 child found" in results
    assert "Avery Dunmore" in results
    assert "Strong match" in results
    assert "9 Mar 2014" in results  # the date of birth, as the manager's feed shows it
    assert "Blake" not in results  # found by the index, but not in this person's feed
    # No key in the page; a stable link, and nothing typed in any URL.
    assert CHILD not in answer.text
    assert NEWER_KEY not in answer.text
    links = re.findall(r'href="(/children/[^"]+)"', results)
    assert len(links) == 1
    for url in re.findall(r'(?:href|action|src)="([^"]+)"', answer.text):
        assert "Avery" not in url
        assert "2014" not in url
    # Audited: why, by what kinds of identifier, what the index matched and what was shown.
    (event,) = console.searches()
    check_console_access(event)
    assert event["search"] == {
        "purpose": "SCREENING_CONTACT",
        "identifiers_used": ["GIVEN_NAME", "FAMILY_NAME", "DATE_OF_BIRTH", "NHS_NUMBER"],
        "index_matches": 2,
        "children_shown": [CHILD],  # the key the console shows the child under
    }
    assert (event["actor"], event["feed"]["subscriber_id"]) == ("u-manager", "mash-manager")
    assert "Avery" not in repr(event)
    assert "9434765919" not in repr(event)
    # The link opens the child's chronology: found under the key merged into the newer one.
    child = await console.http.get(links[0])
    assert child.status_code == 200
    assert "Avery Dunmore" in child.text


async def test_a_search_that_finds_nobody_in_the_feed_says_so_and_is_audited(
    console: Console,
) -> None:
    await console.sign_in("social")  # a feed with neither child
    answer = await console.search(**TYPED)
    assert answer.status_code == 200
    assert "No children found" in _results(answer.text)
    assert "Blake" not in answer.text
    (event,) = console.searches()
    assert (event["search"]["index_matches"], event["search"]["children_shown"]) == (2, [])


async def test_no_result_is_shown_when_the_search_cannot_be_audited() -> None:
    async for console in _console(FailingRecorder()):
        await console.sign_in("manager")
        answer = await console.search(**TYPED)
        assert answer.status_code == 503
        assert "could not be recorded in the audit log" in answer.text
        assert _results(answer.text) == ""
        assert "/children/" not in answer.text


async def test_an_unavailable_index_searches_nothing_and_keeps_the_form(console: Console) -> None:
    await console.sign_in("manager")
    console.index.down = True
    answer = await console.search(**TYPED)
    assert answer.status_code == 503
    assert "nothing was searched" in answer.text
    assert 'value="Dunmore"' in answer.text  # what was typed, to try again
    assert console.searches() == []


# Returning to the page asked for after signing in.


async def test_after_signing_in_the_page_asked_for_opens(console: Console) -> None:
    await console.sign_in("manager")
    found = await console.search(**TYPED)
    (link,) = re.findall(r'href="(/children/[^"]+)"', _results(found.text))
    console.http.cookies.clear()  # signed out (a new browser, an expired session)

    asked = await console.http.get(link)
    assert (asked.status_code, asked.headers["location"]) == (
        303,
        f"/?next={quote(link, safe='')}",
    )
    start = await console.http.get(asked.headers["location"])
    login = re.search(r'href="(/login\?next=[^"]+)"', start.text)
    assert login is not None
    console.signin.next = PEOPLE["manager"]
    await console.http.get(login.group(1).replace("&amp;", "&"))
    back = await console.http.get("/auth/callback")
    assert (back.status_code, back.headers["location"]) == (303, link)
    assert (await console.http.get(link)).status_code == 200


@pytest.mark.parametrize(
    "wanted",
    ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "/login", "/auth/callback"],
)
async def test_a_return_path_is_never_another_site(console: Console, wanted: str) -> None:
    start = await console.http.get("/", params={"next": wanted})
    assert "evil" not in start.text
    console.signin.next = PEOPLE["manager"]
    await console.http.get("/login", params={"next": wanted})
    back = await console.http.get("/auth/callback")
    assert (back.status_code, back.headers["location"]) == (303, "/queue")
