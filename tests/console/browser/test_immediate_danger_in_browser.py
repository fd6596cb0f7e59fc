"""Immediate danger out of hours, in a real browser against the real hub (issue 16, blocker 2).

The console runs with an injected clock (ConsoleRuntime.clock, tests/console/harness.py) set
to a moment the MASH is closed by the policy's own `mash_hours`; everything else is real:
the broker, OPA, the gateway, the identity provider, Chromium. Two contacts in immediate
danger arrive through the hub while the MASH manager's queue is open:
- both alerts appear without reloading (role="alert", in words: "Immediate danger: act
  now"), naming the emergency duty team and its telephone, and the rows say overdue/due
  now, never "due in";
- the manager acknowledges one: it goes for the manager, stays for the deputy (per person);
  the other stays on every page the manager opens, across reloads;
- the MASH decides both (a MASH_DECISION through the hub): the alert goes without reloading.
Screenshots of the queue go to artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from services.console.domain.urgency import MashHours, mash_hours_from_policy
from services.hubkit.settings import REPO_ROOT, HubSettings
from tests.console.browser.conftest import SCREENSHOTS, Agencies, Browser, sign_in
from tests.console.harness import ConsoleServers, console_servers

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]

EDT_NAME = "Emergency duty team, Synthetic Borough Children's Services"
EDT_PHONE = "0300 000 0077"


def _closed_offset(hours: MashHours, now: dt.datetime) -> dt.timedelta:
    """How far ahead the console's clock runs so that it is out of hours, and stays so for
    the length of the test: zero when the MASH is closed now (and for the next hour)."""
    step = dt.timedelta(minutes=5)
    offset = dt.timedelta(0)
    while hours.is_open(now + offset) or hours.is_open(now + offset + dt.timedelta(hours=1)):
        offset += step
    return offset


@pytest.fixture(scope="module")
def clock() -> Callable[[], dt.datetime]:
    rules = json.loads((REPO_ROOT / "policies" / "safehub" / "rules" / "data.json").read_text())
    hours = mash_hours_from_policy(rules["mash_hours"])
    offset = _closed_offset(hours, dt.datetime.now(dt.UTC))

    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + offset

    assert not hours.is_open(now())
    return now


@pytest.fixture(scope="module")
async def servers(
    stack: HubSettings,
    tmp_path_factory: pytest.TempPathFactory,
    clock: Callable[[], dt.datetime],
) -> AsyncIterator[ConsoleServers]:
    async with console_servers(
        stack,
        tmp_path_factory.mktemp("console-urgency"),
        clock=clock,
        emergency_duty_team_name=EDT_NAME,
        emergency_duty_team_telephone=EDT_PHONE,
    ) as running:
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient() as http:
            while (await http.get(f"{running.console_url}/readyz")).status_code != 200:
                assert time.monotonic() < deadline, "the console's feeds did not catch up"
                await asyncio.sleep(0.2)
        yield running


def _danger_contact(agencies: Agencies, child: Any) -> dict[str, Any]:
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT", child=child)
    contact["risk"] = {"level": "HIGH", "immediate_danger": True}
    return contact


async def test_immediate_danger_out_of_hours_alerts_every_page_until_dealt_with(
    gateway: None,
    servers: ConsoleServers,
    open_browser: Callable[[], Any],
    agencies: Agencies,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    manager_browser: Browser = await open_browser()
    page: Page = await sign_in(manager_browser, servers, "mash.manager")
    await expect(page.locator("[data-live-indicator]")).to_be_visible()  # stream connected
    # Out of hours, even before anything arrives: who acts instead of the MASH.
    out_of_hours = page.locator("#out-of-hours")
    await expect(out_of_hours).to_contain_text("Out of hours.")
    await expect(out_of_hours).to_contain_text(EDT_PHONE)

    child = agencies.synthetic.child()
    first = await agencies.publish(_danger_contact(agencies, child))
    second = await agencies.publish(_danger_contact(agencies, child))
    await page.evaluate("window.__notReloaded = true")

    alerts = page.get_by_role("alert").filter(has_text="Immediate danger: act now")
    for notice_id in (first, second):
        # Generous: the gateway may be rebalancing on a shared broker.
        await page.locator(f"#alert-{notice_id}").wait_for(timeout=90_000)
    assert await page.evaluate("window.__notReloaded") is True, "the page was reloaded"
    await expect(alerts).to_be_visible()
    await expect(alerts).to_contain_text("The MASH is closed")
    await expect(alerts).to_contain_text(f"{EDT_NAME}, {EDT_PHONE}")
    await expect(alerts.get_by_role("link", name=EDT_PHONE)).to_have_attribute(
        "href", "tel:03000000077"
    )
    for notice_id in (first, second):
        alert = page.locator(f"#alert-{notice_id}")
        await expect(alert).to_contain_text(re.compile(r"Due now|Overdue by"))
        await expect(alert).not_to_contain_text("Due in")
    # Immediate danger heads the queue. (The shared broker's feed may hold older contacts in
    # immediate danger from other runs, so which of them is on the first page is not asked.)
    await page.reload()
    top = page.locator("table.queue tbody tr").first
    await expect(top).to_contain_text("Immediate danger")
    await expect(top).to_contain_text(re.compile(r"Due now|Overdue by"))
    await page.screenshot(path=str(SCREENSHOTS / "queue-immediate-danger-out-of-hours.png"))

    # Acknowledge the first, from the keyboard: gone for this person, the second stays.
    button = page.locator(f"#alert-{first}").get_by_role("button", name=re.compile("I have seen"))
    await button.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{servers.console_url}/queue")
    await expect(page.locator(f"#alert-{first}")).to_have_count(0)
    await expect(page.locator(f"#alert-{second}")).to_be_visible()

    # Persistent: on every page, across reloads.
    await page.goto(f"{servers.console_url}/queue?show=all")
    await expect(page.locator(f"#alert-{second}")).to_be_visible()
    await page.locator(f"#alert-{second}").get_by_role("link").click()
    await page.wait_for_url(f"{servers.console_url}/items/{second}")
    await expect(page.locator(f"#alert-{second}")).to_be_visible()
    due = page.locator("dd .due")  # the item's own deadline: at once, never the next day
    await expect(due).to_contain_text(re.compile(r"Due now|Overdue by"))
    await page.reload()
    await expect(page.locator(f"#alert-{second}")).to_be_visible()

    # Per person: the deputy still has both.
    deputy = await sign_in(await open_browser(), servers, "mash.deputy")
    for notice_id in (first, second):
        await expect(deputy.locator(f"#alert-{notice_id}")).to_be_visible()

    # Acted on: the MASH decides (through the hub); the alerts go without reloading.
    await page.goto(f"{servers.console_url}/queue")
    await page.evaluate("window.__notReloaded = true")
    decision = agencies.synthetic.notice(
        "MASH_DECISION",
        child=child,
        rag="RED",
        outcome="IMMEDIATE_PROTECTION",
        related_notice_ids=[first, second],
    )
    await agencies.publish(decision)
    await expect(page.locator(f"#alert-{second}")).to_have_count(0, timeout=90_000)
    await expect(deputy.locator(f"#alert-{first}")).to_have_count(0, timeout=30_000)
    assert await page.evaluate("window.__notReloaded") is True, "the page was reloaded"
    await page.screenshot(path=str(SCREENSHOTS / "queue-after-decision.png"))
