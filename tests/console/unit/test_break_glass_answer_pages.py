"""The hub's answers about emergency access on the console's pages (issue 18), with the
console kit's fakes for the bus: the person who asked is told of a refusal in the notice's
emergency panel (and the wait ends), a colleague at the same desk is told nothing; the owning
agency's alert desk sees "Emergency access to your agency's information" with the right
fields and a count in the navigation, another desk sees nothing; a running grant's panel
carries the desk item's marking and handling caveat."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.console.app import create_app
from services.console.break_glass import BreakGlassGrants
from services.console.domain.break_glass import grant_from_feed_item
from services.console.domain.break_glass_answers import alert_from_feed, refusal_from_feed
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.break_glass_items import RULES, alert_record, grant_item, refusal_record
from tests.console.factories import NOW, entry

GRADED = {
    "classification": "OFFICIAL_SENSITIVE",
    "intelligence_grading": {
        "scheme": "GRADING_3X5X2",
        "source_evaluation": "2",
        "intelligence_assessment": "B",
        "handling_code": "C",
        "dissemination_authorisation": None,
    },
}
DESK_ITEM = entry(
    notice_type="POLICE_INTELLIGENCE",
    # The summary may be asked for in an emergency; the unsanitised account never (R5 and
    # the MASH manager's ceiling), nor who told police.
    withheld=("narrative.summary", "narrative.full_account", "detail.source_details"),
    extra=GRADED,
)
# The same notice as the police researcher's desk holds it (the owning agency's alert desk).
ALERT_DESK = "mash-police-researcher"
OWNER_ITEM = entry(
    notice_type="POLICE_INTELLIGENCE",
    notice_id=DESK_ITEM.notice_id,
    subscriber_id=ALERT_DESK,
    extra=GRADED,
)
UNTIL = NOW + dt.timedelta(hours=RULES.grant_hours)
REFUSED = "The notice was withdrawn before the hub could answer, so nothing can be given."
JUSTIFICATION = "Synthetic: the child is in the emergency department now."


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    grants: BreakGlassGrants
    now: list[dt.datetime]

    async def sign_in(self, who: str) -> None:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303

    async def item_page(self) -> str:
        answer = await self.http.get(f"/items/{DESK_ITEM.notice_id}")
        assert answer.status_code == 200
        return html.unescape(answer.text)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent, grants = FakeSignIn(), Sent(), BreakGlassGrants()
    now = [NOW]
    projections = feed_projections(settings, (DESK_ITEM, OWNER_ITEM))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=signin,
            sent=sent,
            clock=lambda: now[0],
            break_glass_rules=RULES,
            break_glass=sent,
            grants=grants,
        )

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, grants, now)


def _panel(page: str) -> str:
    found = re.search(r'<section class="emergency".*?</section>', page, re.S)
    assert found is not None
    return found.group(0)


def _refuse(console: Console, subject: str = "u-manager") -> None:
    """This console asked; the hub refused; the refusal arrives on the desk's feed."""
    request_id = str(uuid.uuid4())
    console.grants.asked(
        request_id=request_id,
        subscriber_id=DESK_ITEM.subscriber_id,
        notice_id=DESK_ITEM.notice_id,
        linkage_key=DESK_ITEM.linkage_key,
        requester_subject=subject,
        at=NOW,
    )
    record = refusal_record(
        DESK_ITEM,
        request_id=request_id,
        requester_subject=subject,
        refused_at=NOW + dt.timedelta(minutes=1),
        explanation=REFUSED,
    )
    console.grants.keep_refusal(refusal_from_feed(record))


async def test_the_requester_is_told_of_the_refusal_and_a_colleague_is_not(
    console: Console,
) -> None:
    await console.sign_in("manager")
    _refuse(console)
    page = await console.item_page()
    assert f"Your emergency access request of 10:01 today was refused: {REFUSED}" in page
    assert "Waiting for the hub" not in page
    assert "may have refused" not in page
    assert 'action="/items/' + DESK_ITEM.notice_id + '/break-glass"' in page  # ask again

    await console.sign_in("dana")  # a colleague at the same desk
    colleague = await console.item_page()
    assert REFUSED not in colleague
    assert "was refused" not in colleague


async def test_a_request_not_yet_answered_still_waits(console: Console) -> None:
    await console.sign_in("manager")
    console.grants.asked(
        request_id=str(uuid.uuid4()),
        subscriber_id=DESK_ITEM.subscriber_id,
        notice_id=DESK_ITEM.notice_id,
        linkage_key=DESK_ITEM.linkage_key,
        requester_subject="u-manager",
        at=NOW,
    )
    page = await console.item_page()
    assert "Waiting for the hub" in page
    assert "if the hub refuses it, you are told here why" in page


async def test_the_alert_desk_sees_the_alert_list_and_its_count(console: Console) -> None:
    alert = alert_record(
        DESK_ITEM, alert_desk=ALERT_DESK, granted_at=NOW, justification=JUSTIFICATION
    )
    console.grants.keep_alert(alert_from_feed(alert))
    await console.sign_in("researcher")
    queue = html.unescape((await console.http.get("/queue")).text)
    count = re.search(
        r'href="/break-glass/alerts"[^>]*>Emergency access to your agency\'s information '
        r'<span class="count" data-break-glass-alerts>(\d+)</span>',
        queue,
    )
    assert count is not None
    assert count.group(1) == "1"
    answer = await console.http.get("/break-glass/alerts")
    assert answer.status_code == 200
    page = html.unescape(answer.text)
    assert "<h1>Emergency access to your agency's information</h1>" in page
    assert "Your reference SYN-REF-0042" in page
    assert "MASH manager at the MASH manager desk (LA-E09000099)" in page
    assert "Full account" in page or "full account" in page.lower()
    assert RULES.reasons["CHILD_PRESENTING_NOW"] in page
    assert JUSTIFICATION in page
    assert "Granted</dt><dd>10:00 today" in page
    assert "Until</dt><dd>14:00 today" in page
    assert "information governance officer reviews it" in page
    assert f'href="/items/{DESK_ITEM.notice_id}"' in page  # the desk holds the notice
    assert PEOPLE["manager"]["name"] not in page.split("</header>", 1)[1]  # never a name


async def test_another_desk_sees_no_alert(console: Console) -> None:
    alert = alert_record(DESK_ITEM, alert_desk=ALERT_DESK, granted_at=NOW)
    console.grants.keep_alert(alert_from_feed(alert))
    for who in ("navigator", "manager"):
        await console.sign_in(who)
        queue = (await console.http.get("/queue")).text
        assert "/break-glass/alerts" not in queue
        page = html.unescape((await console.http.get("/break-glass/alerts")).text)
        assert "SYN-REF-0042" not in page
        assert "No emergency access has been given" in page


async def test_the_panel_carries_the_desk_items_marking_and_handling(console: Console) -> None:
    item = grant_item(
        DESK_ITEM,
        requester_subject="u-manager",
        granted_view={"narrative": {"full_account": "Synthetic account."}},
        expires_at=UNTIL,
    )
    console.grants.keep(grant_from_feed_item(item), now=NOW)
    await console.sign_in("manager")
    page = await console.item_page()
    panel = _panel(page)
    assert "Synthetic account." in panel
    assert "OFFICIAL-SENSITIVE" in panel
    assert "Police handling code C" in panel
    # Never fewer warnings than the item page itself gives.
    outside = page.replace(panel, "")
    for warning in ("OFFICIAL-SENSITIVE", "Police handling code C"):
        assert warning in outside
    notes = re.compile(r'role="note" aria-label="([^"]+)"')
    assert set(notes.findall(panel)) >= set(notes.findall(outside))
