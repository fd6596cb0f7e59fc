"""Emergency access on the notice page (issue 18), at the console's HTTP edge with fakes for
the bus: the form for a MASH manager only, the request published (and nothing shown because
of it), the page waiting, a grant shown in its own panel to the requester only while it
runs, every view logged with the grant before it is shown (nothing without the log), and
after expiry the content gone and the page saying when access ended."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.break_glass import BreakGlassGrants
from services.console.domain.break_glass import grant_from_feed_item
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import check_console_access
from services.hubkit.settings import HubSettings
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.break_glass_items import RULES, grant_item
from tests.console.factories import NOW, entry

DESK_ITEM = entry(
    withheld=("narrative.full_account", "detail.source_details"),
    given_name="Avery",
    family_name="Dunmore",
)
UNTIL = NOW + dt.timedelta(hours=RULES.grant_hours)
SECRET = "Synthetic account: Rowan Quillfeather stays at the address."


@dataclass
class AccessLog:
    recorded: list[Mapping[str, Any]] = field(default_factory=list)
    down: bool = False

    async def record(self, record: Mapping[str, Any]) -> None:
        if self.down:
            raise TimeoutError("the broker did not acknowledge")
        check_console_access(record)  # what the audit log will check
        self.recorded.append(record)

    def viewed(self) -> list[Mapping[str, Any]]:
        return [r for r in self.recorded if r["event"] == "NOTICE_VIEWED"]


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    log: AccessLog
    sent: Sent
    grants: BreakGlassGrants
    now: list[dt.datetime]

    async def sign_in(self, who: str) -> None:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303

    async def item_page(self) -> httpx.Response:
        return await self.http.get(f"/items/{DESK_ITEM.notice_id}")

    async def ask(self, **form: Any) -> httpx.Response:
        page = (await self.item_page()).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        body = {"csrf_token": token.group(1), **form}
        return await self.http.post(f"/items/{DESK_ITEM.notice_id}/break-glass", data=body)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent, log, grants = FakeSignIn(), Sent(), AccessLog(), BreakGlassGrants()
    now = [NOW]
    projections = feed_projections(settings, (DESK_ITEM,))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=signin,
            sent=sent,
            clock=lambda: now[0],
            consultations=log,
            break_glass_rules=RULES,
            break_glass=sent,
            grants=grants,
        )

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, log, sent, grants, now)


def _deliver(console: Console, subject: str = "u-manager") -> str:
    """The hub's grant arrives on the desk's feed (as the feed follower keeps it)."""
    item = grant_item(
        DESK_ITEM,
        requester_subject=subject,
        granted_view={"narrative": {"full_account": SECRET}},
        expires_at=UNTIL,
    )
    console.grants.keep(grant_from_feed_item(item), now=console.now[0])
    return str(item["break_glass"]["request_id"])


async def test_a_manager_is_offered_what_the_rules_may_give(
    console: Console,
) -> None:
    await console.sign_in("manager")
    page = (await console.item_page()).text
    assert 'action="/items/' + DESK_ITEM.notice_id + '/break-glass"' in page
    assert 'value="narrative.full_account"' in page
    assert 'value="detail.source_details"' not in page  # who told the agency: never
    for words in RULES.reasons.values():
        assert words in html.unescape(page)


async def test_the_request_is_published_and_the_page_waits(console: Console) -> None:
    await console.sign_in("manager")
    answer = await console.ask(
        paths="narrative.full_account",
        reason="CHILD_PRESENTING_NOW",
        justification="Child in the ED now; need the account to keep them safe.",
    )
    assert answer.status_code == 303
    (request,) = console.sent.break_glass_requests
    assert request["notice_id"] == DESK_ITEM.notice_id
    assert request["subscriber_id"] == "mash-manager"
    assert request["requester_subject"] == "u-manager"
    assert request["requested_paths"] == ["narrative.full_account"]
    assert request["requested_at"] == NOW
    page = (await console.item_page()).text
    assert "Waiting for the hub" in page
    assert SECRET not in page  # nothing is shown because of a request


async def test_a_request_the_rules_refuse_is_not_sent(console: Console) -> None:
    await console.sign_in("manager")
    answer = await console.ask(
        paths="detail.source_details", reason="CHILD_PRESENTING_NOW", justification="Now."
    )
    assert answer.status_code == 422
    assert "never who told" in answer.text
    answer = await console.ask(paths="narrative.full_account", reason="CHILD_PRESENTING_NOW")
    assert answer.status_code == 422
    assert "your own words" in answer.text
    assert console.sent.break_glass_requests == []


async def test_the_grant_is_shown_to_the_requester_only_and_every_view_logged_first(
    console: Console,
) -> None:
    request_id = _deliver(console, "u-manager")
    await console.sign_in("manager")
    page = await console.item_page()
    assert page.status_code == 200
    assert "Emergency access until 14:00 today; every view is recorded" in page.text
    assert SECRET in page.text
    (viewed,) = console.log.viewed()
    assert viewed["break_glass_request_id"] == request_id
    assert SECRET not in repr(viewed)
    # The desk's own item is still what the sharing rules gave (the grant replaces nothing).
    assert "Dunmore" in page.text

    await console.sign_in("dana")  # a colleague at the same desk
    colleague = await console.item_page()
    assert colleague.status_code == 200
    assert SECRET not in colleague.text
    assert console.log.viewed()[-1]["break_glass_request_id"] is None


async def test_no_log_no_grant(console: Console) -> None:
    _deliver(console)
    await console.sign_in("manager")
    console.log.down = True
    answer = await console.item_page()
    assert answer.status_code == 503
    assert SECRET not in answer.text


async def test_after_expiry_the_content_is_deleted_and_the_page_says_when_it_ended(
    console: Console,
) -> None:
    request_id = _deliver(console)
    await console.sign_in("manager")
    assert SECRET in (await console.item_page()).text
    console.now[0] = UNTIL
    page = (await console.item_page()).text
    assert SECRET not in page
    assert "Your emergency access ended at 14:00 today" in page
    assert console.log.viewed()[-1]["break_glass_request_id"] is None
    (kept,) = console.grants.for_notice(DESK_ITEM.subscriber_id, DESK_ITEM.notice_id, now=NOW)
    assert kept.request_id == request_id
    assert kept.entry is None
