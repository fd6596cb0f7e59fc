"""Agency checks and 'sent to me' at the HTTP edge (issue 16, item 6): where each desk lands,
the manager asking partners (only those whose feed holds the contact), the partner answering
from their own view, the findings on the child's page before the decision form, one answer
per check, every request and answer audited (and nothing kept when the audit fails), and the
social worker's decisions and return interviews. Fakes for the bus and the identity provider;
the console's database is a real SQLite file."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import NOW, decision, entry

NOTICE_ID = "6f1c2a4e-0000-5000-8000-000000000016"
MANAGER_SUMMARY = "Manager view: police attended the home overnight."
NAVIGATOR_SUMMARY = "Navigator view: a police contact about this child."
CONTACT = entry(notice_id=NOTICE_ID, risk="MEDIUM", summary=MANAGER_SUMMARY)
NAVIGATOR_CONTACT = entry(
    notice_id=NOTICE_ID,
    subscriber_id="mash-health-navigator",
    outcome="PARTIAL",
    risk="MEDIUM",
    summary=NAVIGATOR_SUMMARY,
)
FINDINGS = "Two ED attendances this month; a safeguarding flag on the trust record."
QUESTION = "Any unscheduled care in the last three months?"
SECOND_NURSE = {
    "sub": "u-navigator-2",
    "name": "Nia Second",
    "roles": ["HEALTH_NAVIGATOR"],
    "organisation": "NHS-RXX00",
}

# The social worker's feed: a s47 decision routed to the local authority, and two returns.
S47 = decision(CONTACT, subscriber_id="responsible-la", received_at=NOW - dt.timedelta(hours=1))
RETURNED_LATE = entry(
    notice_type="MISSING_EPISODE",
    subscriber_id="responsible-la",
    given_name="Blake",
    received_at=NOW - dt.timedelta(hours=80),
    detail={"status": "RETURNED", "ended_at": (NOW - dt.timedelta(hours=80)).isoformat()},
)
RETURNED_UNKNOWN = entry(
    notice_type="MISSING_EPISODE",
    subscriber_id="responsible-la",
    given_name="Casey",
    detail={"status": "FOUND"},
)


@dataclass
class Bus(Sent):
    """The access recorder, with a switch to make the audit topic unreachable."""

    audit_down: bool = False

    async def record(self, record: Mapping[str, Any]) -> None:
        if self.audit_down:
            raise TimeoutError("no acknowledgement")
        await super().record(record)

    def events(self, kind: str) -> list[Mapping[str, Any]]:
        return [e for e in self.refusals if e["event"] == kind]


@dataclass
class Person:
    http: httpx.AsyncClient
    landed: str

    async def csrf(self, path: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', (await self.http.get(path)).text)
        assert found is not None
        return found.group(1)


@dataclass
class Console:
    bus: Bus
    people: Callable[[str | Mapping[str, Any]], contextlib.AbstractAsyncContextManager[Person]]
    runtime: Callable[[], ConsoleRuntime]
    views: Sent
    """The consultations (NOTICE_VIEWED, CHILD_VIEWED) the pages logged."""


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, bus, views = FakeSignIn(), Bus(), Sent()
    projections = feed_projections(
        settings, (CONTACT, NAVIGATOR_CONTACT, S47, RETURNED_LATE, RETURNED_UNKNOWN)
    )

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        store = PrivateSqlite(tmp_path / "console.sqlite")
        try:
            yield page_runtime(
                settings,
                sessions,
                projections=projections,
                signin=signin,
                sent=bus,
                database=store,
                consultations=views,
            )
        finally:
            store.close()

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)

        @contextlib.asynccontextmanager
        async def person(who: str | Mapping[str, Any]) -> AsyncIterator[Person]:
            async with httpx.AsyncClient(
                transport=transport, base_url="http://console.test"
            ) as http:
                signin.next = PEOPLE[who] if isinstance(who, str) else who
                await http.get("/login")
                answer = await http.get("/auth/callback")
                assert answer.status_code == 303
                yield Person(http, answer.headers["location"])

        yield Console(bus, person, lambda: app.state.runtime, views)


async def _child_page(manager: Person) -> tuple[str, str]:
    item = (await manager.http.get(f"/items/{NOTICE_ID}")).text
    link = re.search(r'href="(/children/[^"]+)"', item)
    assert link is not None
    return link.group(1), (await manager.http.get(link.group(1))).text


async def _ask(manager: Person, *partners: str, question: str = QUESTION) -> httpx.Response:
    child, page = await _child_page(manager)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    return await manager.http.post(
        f"{child}/research",
        data={
            "csrf_token": csrf.group(1),
            "notice_id": NOTICE_ID,
            "partner": list(partners),
            "question": question,
        },
    )


async def _answer(partner: Person, request_path: str, **fields: str) -> httpx.Response:
    csrf = await partner.csrf("/research")
    return await partner.http.post(
        f"{request_path}/findings",
        data={
            "csrf_token": csrf,
            "held": "information",
            "findings": FINDINGS,
            "partner_rag": "AMBER",
            **fields,
        },
    )


async def _request_path(partner: Person) -> str:
    listed = (await partner.http.get("/research")).text
    found = re.search(r'href="(/research/[0-9a-f-]{36})"', listed)
    assert found is not None, "no request on the partner's list"
    return found.group(1)


async def test_each_desk_lands_where_its_work_is(console: Console) -> None:
    landings = {}
    for who in ("manager", "navigator", "researcher", "social"):
        async with console.people(who) as someone:
            landings[who] = someone.landed
            if who == "navigator":
                start = await someone.http.get("/")  # signed in: the start page leads on
                assert start.headers["location"] == "/research"
                nav = (await someone.http.get("/research")).text
                assert "data-research-open>0<" in nav
                assert 'href="/queue?show=all"' in nav  # their list of notices stays reachable
            # Outside the MASH nobody decides: no decision queue in the navigation.
            main_nav = (await someone.http.get("/queue?show=all")).text.split("</nav>")[0]
            assert ('href="/queue" ' in main_nav) == (who != "social")
    assert landings == {
        "manager": "/queue",
        "navigator": "/research",
        "researcher": "/research",
        "social": "/sent-to-me",
    }


async def test_only_partners_whose_feed_holds_the_contact_are_offered(console: Console) -> None:
    async with console.people("manager") as manager:
        _, page = await _child_page(manager)
        checks = page.index('id="research-title"')
        assert checks < page.index('id="decision-title"')  # read before deciding
        assert 'name="partner" value="mash-health-navigator"' in page
        assert 'name="partner" value="mash-police-researcher"' not in page
        assert "Police researcher: Their feed does not hold this contact" in page

        tampered = await _ask(manager, "mash-police-researcher")
        assert tampered.status_code == 400
        assert "Choose only partners the form offers" in tampered.text
        assert console.runtime().research.for_notices([NOTICE_ID]) == []
        assert console.bus.events("RESEARCH_REQUESTED") == []


async def test_a_partner_cannot_ask(console: Console) -> None:
    async with console.people("manager") as manager:
        child, _ = await _child_page(manager)
    async with console.people("navigator") as navigator:
        csrf = await navigator.csrf("/research")
        refused = await navigator.http.post(
            f"{child}/research",
            data={"csrf_token": csrf, "notice_id": NOTICE_ID, "partner": "mash-health-navigator"},
        )
        assert refused.status_code == 403
    assert console.bus.events("ACCESS_REFUSED")[-1]["refusal_reason"] == "ROLE_MAY_NOT_DECIDE"


async def test_the_manager_asks_the_partner_answers_and_the_manager_reads_it(
    console: Console,
) -> None:
    async with console.people("manager") as manager:
        asked = await _ask(manager, "mash-health-navigator")
        assert asked.status_code == 303
        (event,) = console.bus.events("RESEARCH_REQUESTED")
        assert event["notice_id"] == NOTICE_ID
        assert event["research"]["partner"] == "mash-health-navigator"
        assert QUESTION not in repr(event)
        back = asked.headers["location"]
        assert back.endswith("#research-title")  # back to the checks on the child's page
        page = (await manager.http.get(back.split("#")[0])).text
        assert "Agency checks requested of: Health navigator." in page
        assert "Requested: Due in" in page
        assert QUESTION in page

    async with console.people("navigator") as navigator:
        listed = (await navigator.http.get("/research")).text
        assert "data-research-open>1<" in listed
        path = await _request_path(navigator)
        opened = (await navigator.http.get(path)).text
        # Opening the check shows the contact: a consultation, logged before it is shown.
        viewed = console.views.refusals[-1]
        assert (viewed["event"], viewed["notice_id"]) == ("NOTICE_VIEWED", NOTICE_ID)
        assert viewed["actor_roles"] == ["HEALTH_NAVIGATOR"]
        assert viewed["consultation"]["purpose"] == "PARTNER_RESEARCH"
        # The contact as the navigator's own feed shows it, never the manager's view.
        assert NAVIGATOR_SUMMARY in opened
        assert MANAGER_SUMMARY not in opened
        assert QUESTION in opened
        incomplete = await _answer(navigator, path, findings="", partner_rag="")
        assert incomplete.status_code == 400
        assert "Enter what your agency" in incomplete.text
        answered = await _answer(navigator, path)
        assert (answered.status_code, answered.headers["location"]) == (303, "/research")
        assert "data-research-open>0<" in (await navigator.http.get("/research")).text
        (event,) = console.bus.events("RESEARCH_ANSWERED")
        assert event["research"]["partner_rag"] == "AMBER"
        assert event["research"]["answer"] == "INFORMATION_HELD"
        assert FINDINGS not in repr(event)

    async with console.people("manager") as manager:
        _, page = await _child_page(manager)
        findings_at = page.index(FINDINGS)
        assert findings_at < page.index('id="decision-title"')
        assert "Information held" in page
        assert '<span class="rag rag-amber">Amber</span>' in page
        assert "Answered by" in page
        assert "Nova" in page  # who answered, by name


async def test_another_desk_cannot_open_or_answer_a_check(console: Console) -> None:
    async with console.people("manager") as manager:
        await _ask(manager, "mash-health-navigator")
    async with console.people("navigator") as navigator:
        path = await _request_path(navigator)
    async with console.people("researcher") as researcher:
        assert (
            "No checks are waiting for your desk." in (await researcher.http.get("/research")).text
        )
        assert (await researcher.http.get(path)).status_code == 403
        answered = await _answer(researcher, path)
        assert answered.status_code == 403
    assert [e["refusal_reason"] for e in console.bus.events("ACCESS_REFUSED")] == [
        "NOT_IN_FEED",
        "NOT_IN_FEED",
    ]
    assert console.bus.events("RESEARCH_ANSWERED") == []


async def test_two_people_at_one_desk_one_answer_is_recorded(console: Console) -> None:
    async with console.people("manager") as manager:
        await _ask(manager, "mash-health-navigator")
    async with console.people("navigator") as nova, console.people(SECOND_NURSE) as nia:
        path = await _request_path(nova)
        nia_csrf = await nia.csrf(path)  # both have the form open
        assert (await _answer(nova, path)).status_code == 303
        late = await nia.http.post(
            f"{path}/findings",
            data={"csrf_token": nia_csrf, "held": "nothing", "findings": "", "partner_rag": ""},
        )
        assert late.status_code == 409
        assert "Already answered by Nova at" in late.text
        assert "Your answer was not recorded" in late.text
        assert 'name="held"' not in late.text  # the form is gone; the answer is read-only
    assert len(console.bus.events("RESEARCH_ANSWERED")) == 1


async def test_nothing_stands_when_the_audit_log_cannot_be_written(console: Console) -> None:
    async with console.people("manager") as manager:
        console.bus.audit_down = True
        failed = await _ask(manager, "mash-health-navigator")
        assert failed.status_code == 503
        assert "was not recorded" in failed.text
        assert console.runtime().research.for_notices([NOTICE_ID]) == []
        console.bus.audit_down = False
        assert (await _ask(manager, "mash-health-navigator")).status_code == 303
    async with console.people("navigator") as navigator:
        path = await _request_path(navigator)
        console.bus.audit_down = True
        assert (await _answer(navigator, path)).status_code == 503
        console.bus.audit_down = False
        (check,) = console.runtime().research.for_notices([NOTICE_ID])
        assert check.findings is None  # open again: the partner submits again


async def test_the_social_worker_sees_decisions_and_return_interviews_but_no_findings(
    console: Console,
) -> None:
    async with console.people("manager") as manager:
        await _ask(manager, "mash-health-navigator")
    async with console.people("navigator") as navigator:
        await _answer(navigator, await _request_path(navigator))
    async with console.people("social") as social:
        page = (await social.http.get("/sent-to-me")).text
        assert "Decisions sent to me" in page
        assert "Strategy discussion (s47)" in page
        assert "Convene a strategy discussion (s47) with police and health" in page
        assert "Strategy discussion today" in page  # the agreed action the decision carries
        assert "Return interviews due" in page
        assert "Overdue by 8h (was due" in page  # returned 80 hours ago: due at 72
        assert "no due time is set" in page  # returned, return time not shared: none invented
        assert "Synthetic rationale" not in page  # the MASH's reasoning stays inside (R2)
        for path in ("/sent-to-me", "/research", f"/items/{S47.notice_id}"):
            assert FINDINGS not in (await social.http.get(path)).text
        assert "None are asked of your role" in (await social.http.get("/research")).text
