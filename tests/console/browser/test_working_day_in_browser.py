"""A working day's edges in real Chromium against the real hub (issue 16, item 8): the idle
warning (with a short idle limit) and typing as activity, the new-items bar that keeps the
queue still until asked, the 404 page, a session that survives a console restart, and the IG
officer's landing page.

Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from playwright.async_api import Page, expect

from services.hubkit.settings import HubSettings
from tests.console.browser.conftest import (
    SCREENSHOTS,
    Agencies,
    Browser,
    console_ready,
    sign_in,
)
from tests.console.harness import ConsoleServers, console_servers

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(400)]

IDLE_S = 30  # the short idle limit of the idle-warning test; the warning comes at half of it


@pytest.fixture(scope="module")
async def servers(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ConsoleServers]:
    # A page as long as a queue allows: the shared broker's feed holds every earlier run's
    # contacts in immediate danger, and the one this test sends must land on the open page.
    async with console_servers(
        stack, tmp_path_factory.mktemp("console-day"), page_size=500
    ) as running:
        await console_ready(running)
        yield running


async def test_the_idle_warning_typing_and_signing_out(
    stack: HubSettings,
    tmp_path_factory: pytest.TempPathFactory,
    open_browser: Callable[[], Awaitable[Browser]],
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with console_servers(
        stack, tmp_path_factory.mktemp("console-idle"), session_idle_seconds=IDLE_S
    ) as short:
        # Caught up first: while a new console reads the whole feed, a page can take longer
        # than this short limit to render.
        await console_ready(short)
        page = await sign_in(await open_browser(), short, "mash.manager")
        warning = page.get_by_role("alertdialog", name="You will be signed out soon")
        await expect(warning).to_be_hidden()

        # Half the limit without activity: the warning, with the keyboard on its button.
        await expect(warning).to_be_visible(timeout=(IDLE_S // 2 + 5) * 1000)
        stay = warning.get_by_role("button", name="Stay signed in")
        await expect(stay).to_be_focused()
        await expect(warning).to_contain_text(re.compile(r"signed out in \d+ seconds"))
        await page.screenshot(path=str(SCREENSHOTS / "idle-warning.png"))
        await page.keyboard.press("Enter")  # a real request that counts as activity
        await expect(warning).to_be_hidden()

        # Typing counts: a search typed slowly for longer than the limit keeps the session.
        await page.goto(f"{short.console_url}/search")
        field = page.locator("form input[type=text]").first
        await field.click()
        started = time.monotonic()
        while time.monotonic() - started < IDLE_S + 5:
            await field.press("a")
            await asyncio.sleep(2.5)
            assert await warning.is_hidden(), "typing did not count as activity"
        await page.goto(f"{short.console_url}/queue")
        assert page.url == f"{short.console_url}/queue"  # still signed in

        # Nothing more: the warning, then the page says the session ended.
        await expect(warning).to_be_visible(timeout=(IDLE_S // 2 + 5) * 1000)
        await page.wait_for_url(f"{short.console_url}/signed-out?reason=idle", timeout=30_000)
        await expect(page.get_by_role("heading", level=1)).to_have_text("You were signed out")
        await page.goto(f"{short.console_url}/queue")
        assert "/queue" not in page.url  # signed out on the server too


async def test_new_notices_wait_in_a_bar_until_asked_for(
    gateway: None,
    servers: ConsoleServers,
    open_browser: Callable[[], Awaitable[Browser]],
    agencies: Agencies,
) -> None:
    page = await sign_in(await open_browser(), servers, "mash.manager")
    await expect(page.locator("[data-live-indicator]")).to_be_visible()  # stream connected
    await page.evaluate("window.__notReloaded = true")
    rows = page.locator("table.queue tbody tr")
    before = await rows.evaluate_all("rows => rows.map(r => r.id)")
    if before:
        await rows.first.hover()  # the mouse on the list, as someone about to click

    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT", child=agencies.synthetic.child())
    contact["risk"] = {"level": "HIGH", "immediate_danger": True}
    contact_id = await agencies.publish(contact)

    bar = page.get_by_role("status").filter(has=page.get_by_role("button", name="Show them"))
    # Generous: the gateway may be rebalancing on a shared broker.
    await expect(bar).to_be_visible(timeout=90_000)
    await expect(bar).to_contain_text(re.compile(r"\d+ new notices?"))
    # The list has not moved under the mouse: the same rows, in the same order.
    assert await rows.evaluate_all("rows => rows.map(r => r.id)") == before
    await expect(page.locator(f"#row-{contact_id}")).to_have_count(0)
    await page.screenshot(path=str(SCREENSHOTS / "queue-new-items-bar.png"))

    await bar.get_by_role("button", name="Show them").click()
    row = page.locator(f"#row-{contact_id}")
    if not await row.count():  # someone else's notice came first: ask again for ours
        await expect(bar).to_be_visible(timeout=60_000)
        await bar.get_by_role("button", name="Show them").click()
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("Immediate danger")
    # The button is gone; the keyboard is on a new notice, not lost at the top of the page.
    focused = await page.evaluate("document.activeElement.closest('tr')?.id || ''")
    assert focused.startswith("row-"), focused
    assert focused not in before
    assert await page.evaluate("window.__notReloaded") is True, "the page was reloaded"


async def test_an_unknown_address_is_a_page_of_the_console(
    servers: ConsoleServers, open_browser: Callable[[], Awaitable[Browser]]
) -> None:
    page = await sign_in(await open_browser(), servers, "mash.manager")
    answer = await page.goto(f"{servers.console_url}/no-such-page")
    assert answer is not None
    assert answer.status == 404
    assert await page.title() == "Page not found - safehub (synthetic data)"
    await expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    await page.locator("#main").get_by_role("link", name="Find a child").click()
    await page.wait_for_url(f"{servers.console_url}/search")


async def test_a_session_survives_a_console_restart(
    servers: ConsoleServers, open_browser: Callable[[], Awaitable[Browser]]
) -> None:
    page = await sign_in(await open_browser(), servers, "mash.manager")
    await servers.restart_console()
    await console_ready(servers)
    await page.goto(f"{servers.console_url}/queue")
    assert page.url == f"{servers.console_url}/queue"  # not sent to sign in again
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Awaiting decision")
    # Signing out still ends it, after the restart.
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url(f"{servers.console_url}/signed-out")
    await page.goto(f"{servers.console_url}/queue")
    assert "/queue" not in page.url


async def test_the_ig_officer_lands_on_information_governance(
    servers: ConsoleServers, open_browser: Callable[[], Awaitable[Browser]]
) -> None:
    browser = await open_browser()
    page: Page = browser.page
    await page.goto(servers.console_url)
    await page.get_by_role("link", name="Sign in").click()
    await page.get_by_label("Username").fill("ig.officer")
    await page.get_by_label("Password").fill(servers.passwords["ig.officer"])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{servers.console_url}/governance")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Information governance")
    await expect(page.get_by_role("link", name="The IG query API")).to_have_attribute(
        "href", "http://127.0.0.1:18310/docs"
    )
    await expect(
        page.get_by_role("table", name="Who reads which feed in this console")
    ).to_be_visible()
    await expect(page.locator("table.queue")).to_have_count(0)  # no notices, ever
    await page.screenshot(path=str(SCREENSHOTS / "ig-officer-landing.png"), full_page=True)
    refused = await page.goto(f"{servers.console_url}/queue")
    assert refused is not None
    assert refused.status == 403
