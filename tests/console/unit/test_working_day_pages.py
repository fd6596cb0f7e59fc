"""A working day's edges, over HTTP with fakes for the identity provider and the bus: a
session survives a console restart, the idle warning's keep-alive and what the page is told,
the 404 and 405 pages (and the audited 403s they must not replace), and the IG officer's
landing page."""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.runtime import ConsoleRuntime
from services.console.sessions import COOKIE, SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import entry

CONTACT = entry(risk="HIGH", given_name="Avery", family_name="Dunmore")
BASE = "http://console.test"


@dataclass
class Console:
    http: httpx.AsyncClient
    transport: httpx.ASGITransport
    signin: FakeSignIn
    sent: Sent
    clock: list[float]

    async def sign_in(self, who: str) -> httpx.Response:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        return await self.http.get("/auth/callback")

    async def csrf(self, path: str = "/queue") -> str:
        page = await self.http.get(path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None, page.text
        return found.group(1)


@contextlib.asynccontextmanager
async def running(
    database: Path | None,
    *,
    clock: list[float] | None = None,
    cookies: httpx.Cookies | None = None,
    people: dict[str, Any] | None = None,
    **settings_overrides: Any,
) -> AsyncIterator[Console]:
    """One console process: a new app and runtime; its database (if any) on `database`."""
    settings = ConsoleSettings(base_url=BASE, issuer="http://idp.test", **settings_overrides)
    signin, sent, clock = FakeSignIn(), Sent(), clock or [1_800_000_000.0]
    projections = feed_projections(settings, (CONTACT,))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        store = PrivateSqlite(database) if database is not None else None
        try:
            yield page_runtime(
                settings,
                sessions,
                projections=projections,
                signin=signin,
                sent=sent,
                database=store,
            )
        finally:
            if store is not None:
                store.close()

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: clock[0])
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE, cookies=cookies) as http:
            yield Console(http, transport, signin, sent, clock)


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async with running(tmp_path / "console.sqlite") as app:
        yield app


def _title(html: str) -> str:
    found = re.search(r"<title>(.*?)</title>", html, re.S)
    assert found is not None
    return found.group(1)


# -- sessions survive a restart ----------------------------------------------------------------


async def test_a_session_survives_a_console_restart(tmp_path: Path) -> None:
    database, clock = tmp_path / "console.sqlite", [1_800_000_000.0]
    async with running(database, clock=clock) as first:
        await first.sign_in("manager")
        csrf = await first.csrf()
        cookies = first.http.cookies
    clock[0] += 5 * 60
    async with running(database, clock=clock, cookies=cookies) as again:
        page = await again.http.get("/queue")
        assert page.status_code == 200
        assert "Morgan" in page.text  # the same person, signed in
        assert await again.csrf() == csrf  # and the same CSRF token: open forms still submit


async def test_without_the_database_a_restart_signs_everyone_out(tmp_path: Path) -> None:
    # The control for the test above: it passes because of the database, not by accident.
    clock = [1_800_000_000.0]
    async with running(None, clock=clock) as first:
        await first.sign_in("manager")
        cookies = first.http.cookies
    async with running(None, clock=clock, cookies=cookies) as again:
        assert (await again.http.get("/queue")).status_code == 303


async def test_signing_out_ends_the_session_for_every_later_console(tmp_path: Path) -> None:
    database, clock = tmp_path / "console.sqlite", [1_800_000_000.0]
    async with running(database, clock=clock) as first:
        await first.sign_in("manager")
        copied = first.http.cookies.get(COOKIE)
        out = await first.http.post("/logout", data={"csrf_token": await first.csrf()})
        assert out.headers["location"] == "/signed-out"
    async with running(database, clock=clock) as again:
        again.http.cookies.set(COOKIE, copied or "")
        assert (await again.http.get("/queue")).status_code == 303


async def test_an_idle_session_has_ended_after_a_restart_too(tmp_path: Path) -> None:
    database, clock = tmp_path / "console.sqlite", [1_800_000_000.0]
    async with running(database, clock=clock) as first:
        await first.sign_in("manager")
        cookies = first.http.cookies
    clock[0] += 31 * 60
    async with running(database, clock=clock, cookies=cookies) as again:
        assert (await again.http.get("/queue")).status_code == 303


# -- the idle warning ----------------------------------------------------------------------------


async def test_the_page_is_told_how_long_the_session_has(console: Console) -> None:
    await console.sign_in("manager")
    page = await console.http.get("/queue")
    assert 'data-session-left-s="1800"' in page.text
    assert 'data-session-warn-s="120"' in page.text
    dialog = re.search(r'<div id="idle-warning"[^>]*>', page.text)
    assert dialog is not None
    assert 'role="alertdialog"' in dialog.group(0)
    assert "hidden" in dialog.group(0)  # shown by the script, when it is time
    assert ">Stay signed in</button>" in page.text


async def test_signed_out_pages_carry_no_idle_warning(console: Console) -> None:
    start = await console.http.get("/")
    assert "data-session-left-s" not in start.text
    assert "idle-warning" not in start.text


async def test_a_short_idle_limit_in_seconds_for_tests(tmp_path: Path) -> None:
    async with running(None, session_idle_seconds=30) as app:
        await app.sign_in("manager")
        page = await app.http.get("/queue")
        assert 'data-session-left-s="30"' in page.text
        assert 'data-session-warn-s="15"' in page.text  # at most half the limit


async def test_keepalive_counts_as_activity_and_live_requests_do_not(console: Console) -> None:
    await console.sign_in("manager")
    csrf = await console.csrf()
    console.clock[0] += 20 * 60
    left = await console.http.get("/live/session")
    assert left.json() == {"signed_in": True, "seconds_left": 600.0}  # not activity
    console.clock[0] += 9 * 60  # 29 minutes idle: typing a long rationale
    kept = await console.http.post(
        "/session/keepalive",
        data={"csrf_token": csrf},
        headers={"Accept": "application/json"},
    )
    assert kept.json() == {"signed_in": True, "seconds_left": 1800.0}
    console.clock[0] += 20 * 60  # 49 minutes since the last page, 20 since typing
    assert (await console.http.get("/queue")).status_code == 200


async def test_keepalive_needs_the_csrf_token(console: Console) -> None:
    await console.sign_in("manager")
    forged = await console.http.post(
        "/session/keepalive", data={"csrf_token": "forged"}, headers={"Accept": "application/json"}
    )
    assert (forged.status_code, forged.json()) == (403, {"error": "form expired"})
    signed_out = httpx.AsyncClient(transport=console.transport, base_url=BASE)
    async with signed_out:
        nobody = await signed_out.post("/session/keepalive", data={"csrf_token": "x"})
        assert (nobody.status_code, nobody.json()["signed_in"]) == (401, False)


async def test_keepalive_without_script_goes_back_to_the_page(console: Console) -> None:
    await console.sign_in("manager")
    back = await console.http.post(
        "/session/keepalive",
        data={"csrf_token": await console.csrf(), "return_to": "/queue?show=all"},
    )
    assert (back.status_code, back.headers["location"]) == (303, "/queue?show=all")
    elsewhere = await console.http.post(
        "/session/keepalive",
        data={"csrf_token": await console.csrf(), "return_to": "//evil.example/"},
    )
    assert elsewhere.headers["location"] == "/"


async def test_after_the_idle_limit_the_page_is_told_it_is_signed_out(console: Console) -> None:
    await console.sign_in("manager")
    console.clock[0] += 31 * 60
    state = await console.http.get("/live/session")
    assert (state.status_code, state.json()["signed_in"]) == (401, False)
    page = await console.http.get("/signed-out?reason=idle")
    assert "<h1>You were signed out</h1>" in page.text
    assert "Nothing happened in the console for 30 minutes" in page.text
    plain = await console.http.get("/signed-out")
    assert "<h1>You are signed out</h1>" in plain.text


# -- 404 and 405 -------------------------------------------------------------------------------


async def test_an_unknown_address_is_a_page_not_found(console: Console) -> None:
    await console.sign_in("manager")
    answer = await console.http.get("/no-such-page-x7q")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert _title(answer.text) == "Page not found - safehub (synthetic data)"
    assert '<a href="/queue">Go to your queue</a>' in answer.text
    assert '<a href="/search">Find a child</a>' in answer.text
    assert "x7q" not in re.sub(r"<[^>]*>", "", answer.text)  # the address is not echoed back
    assert "Traceback" not in answer.text
    assert "Signed in as" in answer.text  # the console's own page, with its header


async def test_a_signed_out_person_is_sent_to_the_start_page(console: Console) -> None:
    answer = await console.http.get("/no-such-page")
    assert answer.status_code == 404
    assert '<a href="/">Go to the start page and sign in</a>' in answer.text
    assert "/queue" not in answer.text


async def test_a_form_address_opened_directly_is_a_405_page(console: Console) -> None:
    await console.sign_in("manager")
    answer = await console.http.get("/logout")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"
    assert "This address is not a page to open" in answer.text
    assert "Nothing has been changed." in answer.text


async def test_machine_paths_keep_a_bare_404(console: Console) -> None:
    await console.sign_in("manager")
    for path in ("/live/nothing", "/static/nothing.css"):
        answer = await console.http.get(path)
        assert answer.status_code == 404
        assert "<html" not in answer.text


async def test_an_unknown_notice_id_is_still_the_audited_refusal(console: Console) -> None:
    # Not a 404: that would tell anyone who tries ids whether a record exists.
    await console.sign_in("manager")
    made_up = str(uuid.uuid4())
    answer = await console.http.get(f"/items/{made_up}")
    assert answer.status_code == 403
    assert console.sent.refusals[-1]["refusal_reason"] == "NOT_IN_FEED"
    link = await console.http.get("/children/not-a-link")
    assert link.status_code == 403
    assert console.sent.refusals[-1]["refusal_reason"] == "CHILD_LINK_NOT_VALID"


# -- the IG officer ------------------------------------------------------------------------------


async def test_the_ig_officer_lands_on_the_information_governance_page(console: Console) -> None:
    signed_in = await console.sign_in("ig")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/governance")
    page = await console.http.get("/governance")
    assert page.status_code == 200
    assert _title(page.text) == "Information governance - safehub (synthetic data)"
    assert "Your role reads no feed here" in page.text
    assert '<a href="http://127.0.0.1:18310/docs">The IG query API</a>' in page.text
    assert "/v1/subjects/{key}/access-report" in page.text  # the subject access report
    assert "<code>mash-manager</code>" in page.text  # who reads which feed
    assert "Avery" not in page.text  # no notice content, ever
    assert 'aria-current="page">Information governance</a>' in page.text
    assert (await console.http.get("/")).headers["location"] == "/governance"


async def test_a_feed_page_for_the_ig_officer_is_an_audited_refusal(console: Console) -> None:
    await console.sign_in("ig")
    assert console.sent.refusals == []  # signing in is not a refusal
    queue = await console.http.get("/queue")
    assert queue.status_code == 403
    assert "Avery" not in queue.text
    assert console.sent.refusals[-1]["refusal_reason"] == "NO_FEED_FOR_ROLE"
    assert '<a href="/governance">Go to information governance</a>' in queue.text
    item = await console.http.get(f"/items/{CONTACT.notice_id}")
    assert (item.status_code, console.sent.refusals[-1]["refusal_reason"]) == (
        403,
        "NO_FEED_FOR_ROLE",
    )
    fragment = await console.http.get("/live/queue")
    assert (fragment.status_code, fragment.text) == (403, "")


async def test_a_role_neither_with_a_feed_nor_oversight_is_refused_at_sign_in(
    tmp_path: Path,
) -> None:
    async with running(None, oversight_roles=()) as app:
        answer = await app.sign_in("ig")
        assert answer.status_code == 403
        assert app.sent.refusals[-1]["refusal_reason"] == "NO_FEED_FOR_ROLE"
        assert (await app.http.get("/governance")).status_code == 303  # not signed in
