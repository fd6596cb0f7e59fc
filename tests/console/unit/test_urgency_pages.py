"""Issue 16 at the HTTP edge (fakes for the bus and the identity provider, an injected
clock): the immediate-danger alert on every MASH page until acknowledged, the emergency duty
team out of hours, queue filters as GET parameters, the overdue count, held elsewhere."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.console.app import create_app
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import (
    PEOPLE,
    FakeSignIn,
    Sent,
    feed_projections,
    page_runtime,
)
from tests.console.factories import OTHER_CHILD, entry

SATURDAY_NIGHT = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
WEDNESDAY = dt.datetime(2026, 11, 18, 10, 0, tzinfo=dt.UTC)
EDT_PHONE = "0300 000 0099"

DANGER = entry(risk="HIGH", immediate_danger=True, received_at=SATURDAY_NIGHT)
RED = entry(risk="HIGH", received_at=SATURDAY_NIGHT, linkage_key=OTHER_CHILD)
OVERDUE_GREEN = entry(risk="LOW", received_at=SATURDAY_NIGHT - dt.timedelta(days=7))
FLAG = entry(
    outcome="FLAG_ONLY",
    source_agency="HEALTH",
    risk=None,
    given_name=None,
    family_name=None,
    contact_point={
        "role": "Named nurse for safeguarding",
        "organisation": "Synthetic NHS Trust",
        "telephone": "0300 000 0200",
        "secure_email": None,
    },
    received_at=SATURDAY_NIGHT,
)
SOCIAL_DANGER = entry(subscriber_id="responsible-la", risk="HIGH", immediate_danger=True)


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    sent: Sent
    now: list[dt.datetime]

    async def sign_in(self, who: str) -> None:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303

    async def csrf(self) -> str:
        page = await self.http.get("/queue")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = ConsoleSettings(
        base_url="http://console.test",
        issuer="http://idp.test",
        emergency_duty_team_telephone=EDT_PHONE,
    )
    signin, sent, now = FakeSignIn(), Sent(), [SATURDAY_NIGHT + dt.timedelta(minutes=5)]
    projections = feed_projections(settings, (DANGER, RED, OVERDUE_GREEN, FLAG, SOCIAL_DANGER))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=signin,
            sent=sent,
            clock=lambda: now[0],
        )

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, sent, now)


def _alert(html: str) -> str:
    found = re.search(r'<section class="danger-alerts" role="alert".*?</section>', html, re.S)
    assert found is not None, "no immediate-danger alert on the page"
    return found.group(0)


async def test_the_alert_is_on_every_page_and_names_the_duty_team_out_of_hours(
    console: Console,
) -> None:
    await console.sign_in("manager")
    for path in (
        "/queue",
        "/queue?show=all",
        "/queue?show=held",
        f"/items/{RED.notice_id}",
        "/live/alerts",
    ):
        page = await console.http.get(path)
        assert page.status_code == 200, path
        alert = _alert(page.text)
        assert "Immediate danger: act now" in alert  # words, not colour alone
        assert f'href="/items/{DANGER.notice_id}"' in alert
        assert "Overdue by 5m" in alert  # due on arrival, 5 minutes ago
        assert "The MASH is closed" in alert
        assert EDT_PHONE in alert
    queue = await console.http.get("/queue")
    assert "The MASH opens at 09:00 Mon 23 Nov" in queue.text
    assert "Avery" not in _alert(queue.text)  # no names in the alert


async def test_in_hours_the_alert_stays_but_no_duty_team_is_named(console: Console) -> None:
    console.now[0] = WEDNESDAY + dt.timedelta(days=7)  # Wednesday 25 Nov, 10:00
    await console.sign_in("manager")
    page = await console.http.get("/queue")
    alert = _alert(page.text)
    assert "Overdue by" in alert
    assert EDT_PHONE not in page.text
    assert 'id="out-of-hours"' not in page.text


async def test_acknowledging_removes_the_alert_for_that_person_only(console: Console) -> None:
    await console.sign_in("manager")
    token = await console.csrf()
    stale = await console.http.post(
        f"/alerts/{DANGER.notice_id}/acknowledge", data={"csrf_token": "wrong"}
    )
    assert stale.status_code == 403
    assert 'role="alert"' in (await console.http.get("/queue")).text
    done = await console.http.post(
        f"/alerts/{DANGER.notice_id}/acknowledge",
        data={"csrf_token": token, "return_to": f"/items/{RED.notice_id}"},
    )
    assert (done.status_code, done.headers["location"]) == (303, f"/items/{RED.notice_id}")
    page = await console.http.get("/queue")
    assert 'class="danger-alerts"' not in page.text
    assert "Immediate danger</strong>" in page.text  # the row still says it, and sorts first
    assert 'id="out-of-hours"' in page.text  # out of hours is said while it is true


async def test_acknowledging_goes_back_to_this_console_only(console: Console) -> None:
    await console.sign_in("manager")
    token = await console.csrf()
    answer = await console.http.post(
        f"/alerts/{DANGER.notice_id}/acknowledge",
        data={"csrf_token": token, "return_to": "//elsewhere.example/x"},
    )
    assert answer.headers["location"] == "/queue"


async def test_acknowledging_a_notice_outside_the_feed_is_refused_and_audited(
    console: Console,
) -> None:
    await console.sign_in("manager")
    token = await console.csrf()
    answer = await console.http.post(
        f"/alerts/{SOCIAL_DANGER.notice_id}/acknowledge", data={"csrf_token": token}
    )
    assert answer.status_code == 403
    assert len(console.sent.refusals) == 1


async def test_people_outside_the_mash_get_no_alert(console: Console) -> None:
    await console.sign_in("social")
    page = await console.http.get("/queue")
    assert page.status_code == 200
    assert 'role="alert"' not in page.text
    assert "Out of hours" not in page.text


async def test_queue_order_overdue_count_and_filters(console: Console) -> None:
    await console.sign_in("manager")
    page = (await console.http.get("/queue")).text
    order = list(re.findall(r'<tr id="row-([^"]+)"', page))
    assert order == [DANGER.notice_id, OVERDUE_GREEN.notice_id, RED.notice_id]
    assert "2 overdue" in page  # immediate danger (due on arrival) and the week-old Green
    assert FLAG.notice_id not in order
    # Filters are GET parameters with labelled controls.
    for name in ("RAG", "From", "Notice type", "Child's age"):
        assert f">{name}</label>" in page
    green = (await console.http.get("/queue?rag=GREEN")).text
    assert re.findall(r'<tr id="row-([^"]+)"', green) == [OVERDUE_GREEN.notice_id]
    assert '<option value="GREEN" selected>' in green
    assert "Clear filters" in green
    ignored = (await console.http.get("/queue?rag=PURPLE&age=teen")).text
    assert len(re.findall(r'<tr id="row-', ignored)) == 3


async def test_held_elsewhere_lists_flags_with_whom_to_call(console: Console) -> None:
    await console.sign_in("manager")
    page = (await console.http.get("/queue?show=held")).text
    assert re.findall(r'<tr id="row-([^"]+)"', page) == [FLAG.notice_id]
    assert "Held elsewhere: call Named nurse for safeguarding, Synthetic NHS Trust" in page
    assert "Decision due" not in page
    assert 'aria-current="page">Held elsewhere' in page
