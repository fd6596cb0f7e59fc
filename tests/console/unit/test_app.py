"""The console's HTTP edge with fakes for the bus and the identity provider (no Kafka here;
the browser tests run the real thing): access checks, refusals audited, CSRF, decisions,
sessions, and no personal data in URLs or titles."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.domain.decisions import EarlyHelpChoice
from services.console.domain.projection import FeedProjection
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
from tests.console.factories import CHILD, OTHER_CHILD, entry


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    sent: Sent
    clock: list[float]
    manager_feed: FeedProjection
    app: Any

    async def sign_in(self, who: str) -> httpx.Response:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        return await self.http.get("/auth/callback")

    async def csrf(self, path: str = "/queue") -> str:
        page = await self.http.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)


CONTACT = entry(
    risk="HIGH",
    given_name="Avery",
    family_name="Dunmore",
    extra={"source": {"agency": "POLICE", "organisation_code": "POL-XX01"}},
)
POLICE_ONLY = entry(subscriber_id="mash-police-researcher")
INTELLIGENCE = entry(
    notice_type="POLICE_INTELLIGENCE",
    linkage_key=OTHER_CHILD,
    given_name="Blake",
    extra={
        "classification": "OFFICIAL_SENSITIVE",
        "detail": {"sanitised_text": "Synthetic sanitised intelligence."},
    },
)
ABSENT = entry(
    notice_type="MISSING_EPISODE",
    linkage_key=OTHER_CHILD,
    given_name="Blake",
    risk="NO_APPARENT_RISK",
    rule_ids=("R1", "R2", "R8"),
    detail={"status": "REPORTED", "risk_grade": "NO_APPARENT_RISK"},
)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent, clock = FakeSignIn(), Sent(), [1_800_000_000.0]
    projections = feed_projections(settings, (CONTACT, INTELLIGENCE, ABSENT, POLICE_ONLY))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(settings, sessions, projections=projections, signin=signin, sent=sent)

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: clock[0])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, sent, clock, projections["mash-manager"], app)


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None
    return found.group(1)


async def test_signed_out_people_see_only_the_start_page(console: Console) -> None:
    answer = await console.http.get("/queue")
    assert (answer.status_code, answer.headers["location"]) == (303, "/?next=%2Fqueue")
    assert (await console.http.get(f"/items/{CONTACT.notice_id}")).status_code == 303
    assert (await console.http.get("/live/queue")).status_code == 401
    assert console.sent.refusals == []


async def test_a_signed_out_request_gets_the_answer_its_kind_expects(console: Console) -> None:
    # Pages go to the start page (which returns there after signing in), fragments a live
    # page re-fetches are an empty 401, the event stream a JSON 401; none of them is a
    # refusal to audit.
    for path, back in (("/queue", "%2Fqueue"), ("/children/anything", "%2Fchildren%2Fanything")):
        answer = await console.http.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, f"/?next={back}")
    decided = await console.http.post("/children/anything/decisions", data={"csrf_token": "x"})
    assert (decided.status_code, decided.headers["location"]) == (303, "/")
    for path in ("/live/queue", "/live/children/anything"):
        answer = await console.http.get(path)
        assert (answer.status_code, answer.text) == (401, "")
    stream = await console.http.get("/live/events")
    assert (stream.status_code, stream.json()) == (401, {"error": "not signed in"})
    assert console.sent.refusals == []


async def test_the_queue_has_no_personal_data_in_urls_or_title(console: Console) -> None:
    assert (await console.sign_in("manager")).status_code == 303
    page = await console.http.get("/queue")
    assert page.status_code == 200
    assert "Avery Dunmore" in page.text  # shown on the page...
    assert "Avery" not in _title(page.text)  # ...never in the title
    for url in re.findall(r'href="([^"]+)"', page.text):
        assert "Avery" not in url
        assert "Dunmore" not in url
    assert CHILD not in page.text  # the linkage key never reaches the browser
    child_link = re.search(r'href="(/children/[^"]+)"', page.text)
    assert child_link is not None
    assert re.fullmatch(r"/children/[A-Za-z0-9_-]{66}", child_link.group(1))


async def test_pages_are_not_cached_framed_or_scripted_inline(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get("/queue")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text


async def test_an_item_outside_the_feed_is_refused_and_audited(console: Console) -> None:
    await console.sign_in("manager")
    answer = await console.http.get(f"/items/{POLICE_ONLY.notice_id}")
    assert answer.status_code == 403
    assert "recorded in the audit log" in answer.text
    (refusal,) = console.sent.refusals
    assert refusal["event"] == "ACCESS_REFUSED"
    assert refusal["refusal_reason"] == "NOT_IN_FEED"
    assert refusal["notice_id"] == POLICE_ONLY.notice_id
    assert refusal["feed"]["subscriber_id"] == "mash-manager"
    assert refusal["actor"] == "u-manager"


async def test_an_id_that_exists_nowhere_gets_the_same_answer(console: Console) -> None:
    await console.sign_in("manager")
    answer = await console.http.get("/items/not-a-notice")
    assert answer.status_code == 403
    assert console.sent.refusals[0]["notice_id"] is None  # junk never reaches the log


async def test_an_item_in_the_feed_opens_with_why_and_a_child_link(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get(f"/items/{CONTACT.notice_id}")
    assert page.status_code == 200
    assert "Why am I seeing this?" in page.text
    assert "UK GDPR Art 6(1)(e) public task" in page.text
    assert _title(page.text).startswith("Notice")


async def test_a_child_link_is_stable_and_checked_for_each_person(console: Console) -> None:
    await console.sign_in("manager")
    queue = (await console.http.get("/queue")).text
    link = re.search(r'href="(/children/[^"]+)"', queue)
    assert link is not None
    assert (await console.http.get(link.group(1))).status_code == 200
    console.http.cookies.clear()
    await console.sign_in("manager")  # a new session: the same link still opens the child
    assert (await console.http.get(link.group(1))).status_code == 200
    assert console.sent.refusals == []
    console.http.cookies.clear()
    await console.sign_in("social")  # the same link, for someone whose feed lacks the child
    refused = await console.http.get(link.group(1))
    assert refused.status_code == 403
    assert "Avery" not in refused.text
    assert console.sent.refusals[-1]["refusal_reason"] == "CHILD_LINK_NOT_VALID"


async def _decision_form(console: Console) -> tuple[str, dict[str, str]]:
    queue = (await console.http.get("/queue")).text
    link = re.search(rf'id="child-{CONTACT.notice_id}" href="(/children/[^"]+)"', queue)
    assert link is not None
    page = (await console.http.get(link.group(1))).text
    hidden = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]+)"', page))
    return link.group(1), hidden


async def test_a_decision_is_validated_then_published_once(console: Console) -> None:
    await console.sign_in("manager")
    child, hidden = await _decision_form(console)
    form = {
        **hidden,
        "related": CONTACT.notice_id,
        "rag": "RED",
        "outcome": "EARLY_HELP",
        "rationale": "Synthetic rationale long enough to record.",
        "family_informed": "yes",
    }
    refused = await console.http.post(f"{child}/decisions", data=form)
    assert refused.status_code == 400
    assert _title(refused.text).startswith("Error: ")
    assert "Early help needs the family&#39;s agreement" in refused.text
    assert console.sent.decisions == []

    form["family_agreement"] = "yes"
    unrouted = await console.http.post(f"{child}/decisions", data=form)
    assert unrouted.status_code == 400
    assert "Enter the organisation code of the early help lead professional" in unrouted.text
    assert 'href="#early_help_organisation"' in unrouted.text  # the summary links to it
    assert console.sent.decisions == []

    form["early_help_organisation"] = "VCS-SYN002"
    done = await console.http.post(f"{child}/decisions", data=form)
    assert (done.status_code, done.headers["location"]) == (303, child)
    (notice,) = console.sent.decisions
    assert notice["notice_type"] == "MASH_DECISION"
    assert notice["detail"]["related_notice_ids"] == [CONTACT.notice_id]
    assert notice["detail"]["decided_by_role"] == "MASH manager"
    assert notice["detail"]["early_help_organisation"] == "VCS-SYN002"
    assert notice["detail"]["referring_organisations"] == ["POL-XX01"]  # feedback to the police
    assert "Decision recorded" in (await console.http.get(child)).text

    again = await console.http.post(f"{child}/decisions", data=form)  # double submit
    assert again.status_code == 303
    assert len(console.sent.decisions) == 1


async def test_without_early_help_subscribers_the_form_asks_for_a_code(console: Console) -> None:
    await console.sign_in("manager")
    child, _ = await _decision_form(console)
    page = (await console.http.get(child)).text
    field = re.search(r'<input type="text" id="early_help_organisation"[^>]*>', page)
    assert field is not None
    assert 'name="early_help_organisation"' in field.group(0)
    assert '<label for="early_help_organisation">Early help organisation code</label>' in page


async def test_early_help_subscribers_are_offered_as_the_only_choices(console: Console) -> None:
    runtime: ConsoleRuntime = console.app.state.runtime
    runtime.early_help = (EarlyHelpChoice("VCS-SYN002", "Early help lead (VCS-SYN002)"),)
    await console.sign_in("manager")
    child, _ = await _decision_form(console)
    page = (await console.http.get(child)).text
    assert '<select id="early_help_organisation" name="early_help_organisation"' in page
    assert '<option value="VCS-SYN002">Early help lead (VCS-SYN002)</option>' in page
    _, hidden = await _decision_form(console)
    form = {
        **hidden,
        "related": CONTACT.notice_id,
        "rag": "GREEN",
        "outcome": "EARLY_HELP",
        "family_agreement": "yes",
        "early_help_organisation": "VCS-SYN999",  # not one the hub can route to
        "rationale": "Synthetic rationale long enough to record.",
        "family_informed": "yes",
    }
    refused = await console.http.post(f"{child}/decisions", data=form)
    assert refused.status_code == 400
    assert "Select the early help organisation" in refused.text
    form["early_help_organisation"] = "VCS-SYN002"
    assert (await console.http.post(f"{child}/decisions", data=form)).status_code == 303
    (notice,) = console.sent.decisions
    assert notice["detail"]["early_help_organisation"] == "VCS-SYN002"


async def test_an_official_sensitive_item_is_marked_at_the_top(console: Console) -> None:
    await console.sign_in("manager")
    page = (await console.http.get(f"/items/{INTELLIGENCE.notice_id}")).text
    marking = page.find('class="marking"')
    assert -1 < marking < page.find("<h1>")  # before the content, not only in the field list
    assert "OFFICIAL-SENSITIVE</strong> Handle on a strict need-to-know basis" in page
    assert 'class="marking marking-foot"' in page
    plain = (await console.http.get(f"/items/{CONTACT.notice_id}")).text
    assert 'class="marking' not in plain


async def test_an_r8_absent_episode_shows_in_the_queue_as_missing(console: Console) -> None:
    await console.sign_in("manager")
    queue = (await console.http.get("/queue")).text
    row = re.search(rf'<tr id="row-{ABSENT.notice_id}".*?</tr>', queue, re.S)
    assert row is not None
    assert "Amber (suggested)" in row.group(0)
    assert "absent, treated as missing (R8)" in row.group(0)
    assert "Missing episode" in row.group(0)


async def test_every_form_needs_the_csrf_token(console: Console) -> None:
    await console.sign_in("manager")
    child, hidden = await _decision_form(console)
    forged = {**hidden, "csrf_token": "forged", "rag": "RED"}
    assert (await console.http.post(f"{child}/decisions", data=forged)).status_code == 403
    assert (await console.http.post("/logout", data={"csrf_token": "forged"})).status_code == 403
    assert console.sent.decisions == []


async def test_only_decision_makers_may_decide_and_others_are_audited(console: Console) -> None:
    await console.sign_in("social")
    csrf = await console.csrf()
    answer = await console.http.post(
        "/children/abc/decisions", data={"csrf_token": csrf, "rag": "RED"}
    )
    assert answer.status_code == 403
    assert console.sent.refusals[-1]["refusal_reason"] == "ROLE_MAY_NOT_DECIDE"
    assert console.sent.decisions == []


async def test_the_ig_officer_has_no_feed_lands_on_governance_and_is_refused_a_queue(
    console: Console,
) -> None:
    # An oversight role signs in to a page of its own (no notice content there); any feed
    # page is refused, and audited, as a role without a feed.
    answer = await console.sign_in("ig")
    assert (answer.status_code, answer.headers["location"]) == (303, "/governance")
    assert console.sent.refusals == []
    assert (await console.http.get("/governance")).status_code == 200
    refused = await console.http.get("/queue")
    assert refused.status_code == 403
    assert console.sent.refusals[-1]["refusal_reason"] == "NO_FEED_FOR_ROLE"


async def test_sign_in_replaces_the_session_id(console: Console) -> None:
    await console.http.get("/login")
    before = console.http.cookies.get("safehub_console")
    console.signin.next = PEOPLE["manager"]
    await console.http.get("/auth/callback")
    after = console.http.cookies.get("safehub_console")
    assert before
    assert after
    assert before != after


async def test_sign_out_ends_the_session_on_the_server(console: Console) -> None:
    await console.sign_in("manager")
    stolen = console.http.cookies.get("safehub_console")
    csrf = await console.csrf()
    out = await console.http.post("/logout", data={"csrf_token": csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/signed-out")
    console.http.cookies.set("safehub_console", stolen or "")  # a copied cookie is now useless
    assert (await console.http.get("/queue")).status_code == 303


async def test_sessions_expire_when_idle_and_live_updates_do_not_keep_them(
    console: Console,
) -> None:
    await console.sign_in("manager")
    console.clock[0] += 20 * 60
    assert (await console.http.get("/queue")).status_code == 200  # a page view: activity
    console.clock[0] += 20 * 60
    assert (await console.http.get("/live/queue")).status_code == 200  # not activity
    console.clock[0] += 15 * 60  # 35 minutes since the last page view
    assert (await console.http.get("/queue")).status_code == 303
