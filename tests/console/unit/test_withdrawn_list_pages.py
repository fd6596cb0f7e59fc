"""The "Withdrawn, to acknowledge" list (issue 18): a desk with withdrawals nobody there has
acknowledged sees a link with their count in the navigation, and a page listing them (the
tombstones only, nothing of the notices), each acknowledged from the list itself; once all are
acknowledged the link goes. A desk without withdrawals never sees the link. Fakes for the bus
and the identity provider (tests/console/app_fakes.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.console.app import create_app
from services.console.domain.withdrawals import (
    Withdrawal,
    withdrawal_from_feed_retraction,
)
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.retraction import delivery_decision_id, retraction_id_for
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import CHILD, NOW, entry

SUBSCRIBER = "mash-manager"
MARK = "Zephyrine"  # a synthetic given name only the withdrawn item's view holds


def _withdrawal(
    notice_id: str, *, agency: str, reason: str, hours: int, subscriber_id: str = SUBSCRIBER
) -> Withdrawal:
    retraction_id = retraction_id_for(notice_id)
    return withdrawal_from_feed_retraction(
        {
            "retraction_id": retraction_id,
            "notice_id": notice_id,
            "decision_id": delivery_decision_id(
                retraction_id=retraction_id, subscriber_id=subscriber_id
            ),
            "subscriber_id": subscriber_id,
            "subject_linkage_key": CHILD,
            "source_agency": agency,
            "reason": reason,
            "replaced_by_notice_id": None,
            "retracted_at": NOW + dt.timedelta(hours=hours),
            "delivered_at": NOW + dt.timedelta(hours=hours, seconds=2),
        }
    )


WITHDRAWN = entry(source_agency="HEALTH", given_name=MARK)
NEVER_SEEN = "5d7c9a6e-0b1f-5e2a-9c3d-4e5f6a7b8c9d"  # withdrawn before this console held it
STILL_HERE = entry()


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    sent: Sent

    async def sign_in(self, who: str) -> None:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent = FakeSignIn(), Sent()
    projections = feed_projections(settings, (WITHDRAWN, STILL_HERE))
    manager = projections[SUBSCRIBER]
    manager.apply(_withdrawal(WITHDRAWN.notice_id, agency="HEALTH", reason="WRONG_CHILD", hours=3))
    manager.apply(_withdrawal(NEVER_SEEN, agency="POLICE", reason="ENTERED_IN_ERROR", hours=1))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=signin,
            sent=sent,
            consultations=sent,
        )

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, sent)


def _nav_count(html: str) -> int | None:
    """The navigation's count of withdrawals to acknowledge; None when there is no link."""
    found = re.search(
        r'<a href="/withdrawn"[^>]*>Withdrawn, to acknowledge '
        r'<span class="count" data-withdrawn-open>(\d+)</span>',
        html,
    )
    return None if found is None else int(found.group(1))


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_the_desk_lists_and_acknowledges_its_withdrawals(console: Console) -> None:
    await console.sign_in("morgan")
    queue = await console.http.get("/queue")
    assert _nav_count(queue.text) == 2

    listed = await console.http.get("/withdrawn")
    assert listed.status_code == 200
    assert "<h1>Withdrawn, to acknowledge</h1>" in listed.text
    assert 'aria-current="page"' in listed.text.split("Withdrawn, to acknowledge <span")[0][-80:]
    # Oldest delivery first; the words of the withdrawal, nothing of the notice.
    police = listed.text.index("Withdrawn by Police: entered in error")
    health = listed.text.index("Withdrawn by Health: wrong child")
    assert police < health
    assert MARK not in listed.text
    assert STILL_HERE.notice_id not in listed.text
    assert listed.text.count('name="back" value="list"') == 2

    done = await console.http.post(
        f"/items/{NEVER_SEEN}/withdrawal/acknowledge",
        data={"csrf_token": _csrf(listed.text), "back": "list"},
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/withdrawn"
    assert [str(e["retraction_id"]) for e in console.sent.refusals] == [
        retraction_id_for(NEVER_SEEN)
    ]
    after = await console.http.get("/withdrawn")
    assert "Your acknowledgement is recorded." in after.text
    assert "Withdrawn by Police: entered in error" not in after.text
    assert "Withdrawn by Health: wrong child" in after.text
    assert _nav_count(after.text) == 1

    # From the notice's own page (no `back`): back to that page, and the list is empty.
    last = await console.http.post(
        f"/items/{WITHDRAWN.notice_id}/withdrawal/acknowledge",
        data={"csrf_token": _csrf(after.text)},
    )
    assert last.headers["location"] == f"/items/{WITHDRAWN.notice_id}"
    empty = await console.http.get("/withdrawn")
    assert "Nothing to acknowledge" in empty.text
    assert _nav_count(empty.text) is None


async def test_a_desk_without_withdrawals_has_no_link(console: Console) -> None:
    await console.sign_in("social")  # responsible-la's feed: never given either notice
    page = await console.http.get("/sent-to-me")
    assert page.status_code == 200
    assert _nav_count(page.text) is None
    assert "/withdrawn" not in page.text
    listed = await console.http.get("/withdrawn")
    assert "Nothing to acknowledge" in listed.text
