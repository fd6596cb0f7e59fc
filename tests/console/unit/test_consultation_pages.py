"""Every successful view is audited (issue 16, item 7) at the console's HTTP edge, with fakes
for the bus: the event is written before the page is returned, and without it nothing is
shown (503); a live refresh writes only when it shows something new; opening a search result
is a view for the search's purpose; acknowledging an alert and amending a decision are
logged too (the amendment before it leaves the console)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.domain.projection import FeedProjection
from services.console.domain.search import ChildMatch
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import check_console_access
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import CHILD, entry

CONTACT = entry(
    risk="HIGH",
    immediate_danger=True,
    given_name="Avery",
    family_name="Dunmore",
    source_agency="POLICE",
)
HEALTH_ALERT = entry(notice_type="HEALTH_SAFEGUARDING_ALERT", source_agency="HEALTH")
LATER = entry(source_agency="HEALTH", given_name="Avery")
FOR_SOCIAL_WORKER = entry(subscriber_id="responsible-la", linkage_key="f" * 64)


@dataclass
class AccessLog:
    """The consultation log, with a switch to make the audit topic unreachable."""

    recorded: list[Mapping[str, Any]] = field(default_factory=list)
    down: bool = False

    async def record(self, record: Mapping[str, Any]) -> None:
        if self.down:
            raise TimeoutError("the broker did not acknowledge")
        check_console_access(record)  # what the audit log will check
        self.recorded.append(record)

    def of(self, event: str) -> list[Mapping[str, Any]]:
        return [r for r in self.recorded if r["event"] == event]


@dataclass
class FakeSearch:
    matches: list[ChildMatch]

    async def search(self, query: Any, *, limit: int) -> list[ChildMatch]:
        return self.matches


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    log: AccessLog
    sent: Sent
    runtime: list[ConsoleRuntime]

    async def sign_in(self, who: str) -> None:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303

    async def child_link(self) -> str:
        page = (await self.http.get(f"/items/{CONTACT.notice_id}")).text
        link = re.search(r'href="(/children/[^"]+)"', page)
        assert link is not None
        return link.group(1)

    async def csrf(self, path: str = "/queue") -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', (await self.http.get(path)).text)
        assert found is not None
        return found.group(1)


@contextlib.asynccontextmanager
async def running(database: Path | None = None) -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent, log, built = FakeSignIn(), Sent(), AccessLog(), []
    projections = feed_projections(settings, (CONTACT, HEALTH_ALERT, FOR_SOCIAL_WORKER))
    search = FakeSearch([ChildMatch(CHILD, (CHILD,), 0.99, "strong")])

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        store = PrivateSqlite(database) if database else None
        try:
            overrides: dict[str, Any] = {"database": store} if store else {}
            made = page_runtime(
                settings,
                sessions,
                projections=projections,
                signin=signin,
                sent=sent,
                consultations=log,
                child_search=search,
                **overrides,
            )
            built.append(made)
            yield made
        finally:
            if store:
                store.close()

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, log, sent, built)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with running() as app:
        yield app


async def test_a_notice_view_is_logged_before_the_page_is_shown(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get(f"/items/{CONTACT.notice_id}")
    assert page.status_code == 200
    (viewed,) = console.log.of("NOTICE_VIEWED")
    assert viewed["notice_id"] == CONTACT.notice_id
    assert viewed["actor"] == "u-manager"
    assert viewed["feed"]["subscriber_id"] == "mash-manager"
    assert viewed["consultation"]["purpose"] == "MASH_TRIAGE"
    assert viewed["consultation"]["source_agencies"] == ["POLICE"]
    assert viewed["consultation"]["subject_linkage_key"] == CHILD
    assert "Avery" not in repr(viewed)
    assert console.sent.refusals == []  # a view is not a refusal


async def test_no_log_no_page(console: Console) -> None:
    await console.sign_in("manager")
    link = await console.child_link()
    console.log.down = True
    for path in (f"/items/{CONTACT.notice_id}", link):
        answer = await console.http.get(path)
        assert answer.status_code == 503
        assert "audit log could not be reached" in answer.text
        assert "Dunmore" not in answer.text
    fragment = await console.http.get("/live" + link)
    assert (fragment.status_code, fragment.text) == (503, "")


async def test_a_child_view_and_its_live_refreshes(console: Console) -> None:
    await console.sign_in("manager")
    link = await console.child_link()
    assert (await console.http.get(link)).status_code == 200
    (viewed,) = console.log.of("CHILD_VIEWED")
    shown = viewed["consultation"]
    assert shown["notice_ids"] == sorted([CONTACT.notice_id, HEALTH_ALERT.notice_id])
    assert shown["source_agencies"] == ["HEALTH", "POLICE"]
    assert shown["live_update"] is False
    # A live refresh showing the same notices repeats a logged view: nothing written.
    assert (await console.http.get("/live" + link)).status_code == 200
    assert len(console.log.of("CHILD_VIEWED")) == 1
    # A new notice for the child arrives: the refresh that shows it is a consultation of it.
    feed = console.runtime[0].projections["mash-manager"]
    assert isinstance(feed, FeedProjection)
    feed.apply(LATER)
    assert (await console.http.get("/live" + link)).status_code == 200
    _, refreshed = console.log.of("CHILD_VIEWED")
    assert LATER.notice_id in refreshed["consultation"]["notice_ids"]
    assert refreshed["consultation"]["live_update"] is True
    assert (await console.http.get("/live" + link)).status_code == 200
    assert len(console.log.of("CHILD_VIEWED")) == 2


async def test_opening_a_search_result_is_a_view_for_the_search(console: Console) -> None:
    await console.sign_in("manager")
    token = await console.csrf("/search")
    results = await console.http.post(
        "/search",
        data={
            "csrf_token": token,
            "purpose": "SCREENING_CONTACT",
            "given_name": "Avery",
            "family_name": "Dunmore",
            "dob_day": "9",
            "dob_month": "3",
            "dob_year": "2014",
        },
    )
    assert results.status_code == 200
    link = re.search(r'<h3><a href="(/children/[^"]+)">', results.text)
    assert link is not None
    assert "?" not in link.group(1)  # no marker in the link: it may be bookmarked or shared
    await console.http.get(link.group(1))
    await console.http.get(link.group(1))  # later visits: the purpose of who they are
    first, second = (v["consultation"]["purpose"] for v in console.log.of("CHILD_VIEWED"))
    assert (first, second) == ("CHILD_SEARCH", "MASH_TRIAGE")


async def test_outside_the_mash_a_view_is_case_work(console: Console) -> None:
    await console.sign_in("social")
    assert (await console.http.get(f"/items/{FOR_SOCIAL_WORKER.notice_id}")).status_code == 200
    (viewed,) = console.log.of("NOTICE_VIEWED")
    assert viewed["consultation"]["purpose"] == "CASE_WORK"
    assert viewed["feed"]["subscriber_id"] == "responsible-la"


async def test_acknowledging_an_alert_is_logged_first(console: Console) -> None:
    await console.sign_in("manager")
    token = await console.csrf()
    console.log.down = True
    path = f"/alerts/{CONTACT.notice_id}/acknowledge"
    failed = await console.http.post(path, data={"csrf_token": token})
    assert failed.status_code == 503
    runtime = console.runtime[0]
    assert CONTACT.notice_id not in runtime.acknowledgements.of("u-manager")
    console.log.down = False
    done = await console.http.post(path, data={"csrf_token": token})
    assert done.status_code == 303
    (acknowledged,) = console.log.of("DANGER_ACKNOWLEDGED")
    assert acknowledged["notice_id"] == CONTACT.notice_id


def _decision_form(page: str, **fields: str) -> dict[str, list[str]]:
    form = re.search(r'<form method="post" action="[^"]*/(decisions|amend)".*?</form>', page, re.S)
    assert form is not None, "no decision form on the page"
    hidden = re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form.group(0))
    answers = {
        "related": CONTACT.notice_id,
        "rag": "RED",
        "outcome": "S47_STRATEGY_DISCUSSION",
        "rationale": "Police contact and a health alert in the same week.",
        "family_informed": "yes",
        **fields,
    }
    data: dict[str, list[str]] = {}
    for name, value in [*hidden, *answers.items()]:
        data.setdefault(name, []).append(value)
    return data


async def test_an_amendment_is_logged_before_it_is_sent(tmp_path: Path) -> None:
    async with running(tmp_path / "console.sqlite") as console:
        await console.sign_in("morgan")
        link = await console.child_link()
        page = (await console.http.get(link)).text
        assert (await console.http.post(f"{link}/decisions", data=_decision_form(page))).is_redirect
        (first,) = console.sent.decisions
        page = (await console.http.get(link)).text
        amend = re.search(r'href="(/children/[^"]+/decisions/[^"]+/amend)"', page)
        assert amend is not None
        form = _decision_form(
            (await console.http.get(amend.group(1))).text,
            outcome="S17_ASSESSMENT",
            rag="AMBER",
            amend_reason="The school called back about Avery.",
        )
        console.log.down = True
        failed = await console.http.post(amend.group(1), data=form)
        assert failed.status_code == 503
        assert len(console.sent.decisions) == 1  # not sent without its audit record
        console.log.down = False
        assert (await console.http.post(amend.group(1), data=form)).is_redirect
        _, amendment = console.sent.decisions
        (amended,) = console.log.of("DECISION_AMENDED")
        assert amended["actor"] == "u-morgan"
        assert amended["amendment"]["amended_decision_id"] == first["notice_id"]
        assert amended["amendment"]["amendment_decision_id"] == amendment["notice_id"]
        assert "school" not in repr(amended)
        # The amendment names who made it, not only the role.
        assert "Decided by Morgan Ashby" in amendment["narrative"]["full_account"]
