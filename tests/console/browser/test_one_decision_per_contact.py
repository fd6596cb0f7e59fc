"""One decision per contact, in real Chromium against the real hub (issue 16, blocker 1).

Two MASH managers, each in their own browser, open the same contact's child page and both
submit a decision. Exactly one wins: its MASH_DECISION goes through the hub, the contact
then reads "Decided by <name> at <time>" and the form is gone. The other is told who decided
and when, and nothing is published for them. Screenshots go to
artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology
from tests.console.browser.conftest import SCREENSHOTS, Agencies, sign_in
from tests.console.browser.test_console_in_browser import Bus
from tests.console.harness import ConsoleServers
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]


async def _open_contact(page: Page, servers: ConsoleServers, contact_id: str) -> None:
    """The contact's own page, then its child's page. Straight to the contact, not through
    the queue: the shared broker's feed holds every earlier run's items, thousands of them
    ahead of this one in the queue's order."""
    await page.goto(f"{servers.console_url}/items/{contact_id}")
    await page.get_by_role("link", name=re.compile("^Open the child's chronology")).click()
    await page.wait_for_url(re.compile(r"/children/[A-Za-z0-9_-]+$"))
    await expect(page.get_by_role("button", name="Record decision")).to_be_visible()


async def _fill_decision(page: Page, *, rag: str, outcome: str, rationale: str) -> None:
    await page.get_by_label(rag, exact=True).check()
    await page.get_by_label(outcome).check()
    await page.get_by_label("Rationale").fill(rationale)
    await page.get_by_label("Yes", exact=True).check()


async def test_two_managers_decide_one_contact_and_exactly_one_wins(
    stack: HubSettings,
    topology: Topology,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    bus = Bus(stack)
    decisions_topic = await TopicReader(stack, "gateway", "notices.mash.v1").start()
    feed = await TopicReader(stack, "feed-mash-manager", "feed.mash-manager.v1").start()
    morgan = await sign_in(await open_browser(), servers, "mash.manager")
    dana = await sign_in(await open_browser(), servers, "mash.deputy")

    child = agencies.synthetic.child()
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT", child=child)
    contact["risk"] = {"level": "MEDIUM", "immediate_danger": False}
    contact_id = await agencies.publish(contact)
    # Released to the MASH manager's feed (read_committed, as the console reads it).
    released = await feed.read_until(
        lambda rs: any(bus.feed_item(r)["notice_id"] == contact_id for r in rs), timeout_s=90
    )
    assert any(bus.feed_item(r)["notice_id"] == contact_id for r in released)
    await asyncio.sleep(1)  # the console applies what the feed released (~0.2 s)

    # Both open the same contact; Morgan takes it, and Dana sees who is screening it.
    await _open_contact(morgan, servers, contact_id)
    await _open_contact(dana, servers, contact_id)
    entry = f"#entry-{contact_id}"
    await morgan.locator(entry).get_by_role("button", name=re.compile("^Take this contact")).click()
    await expect(morgan.locator(".flash")).to_contain_text("You are screening this contact")
    await expect(dana.locator(entry)).to_contain_text(
        "Being screened by Morgan Ashby (synthetic)"
    )  # live: Dana's chronology re-fetched without a reload

    # Both fill in a decision; Morgan submits first.
    await _fill_decision(
        morgan,
        rag="Amber",
        outcome="Child in need assessment (s17)",
        rationale="Police contact with neglect concerns; assessment needed.",
    )
    await _fill_decision(
        dana,
        rag="Green",
        outcome="No further action",
        rationale="Dana's view: no further action needed on this contact.",
    )
    await morgan.get_by_role("button", name="Record decision").click()
    await expect(morgan.locator(".flash")).to_contain_text("Decision recorded")
    await dana.get_by_role("button", name="Record decision").click()

    # Dana is told who decided and when; her decision was neither recorded nor sent.
    lost = dana.locator(".lost-race")
    await expect(lost).to_be_visible()
    await expect(lost).to_contain_text("Already decided")
    await expect(lost).to_contain_text(
        re.compile(r"Decided by Morgan Ashby \(synthetic\) at \w{3} \d+ \w{3} \d{4}, \d\d:\d\d")
    )
    await expect(lost).to_contain_text("Your decision was not recorded or sent.")
    await expect(lost).to_be_focused()  # the alert takes focus, for keyboard and reader users
    await expect(dana.get_by_role("button", name="Record decision")).to_have_count(0)
    await dana.screenshot(path=str(SCREENSHOTS / "decision-lost-race.png"), full_page=True)

    # The contact reads who decided, for both, and the form is gone.
    for page in (morgan, dana):
        await page.goto(f"{servers.console_url}/items/{contact_id}")
        decided = page.locator(f"#decided-{contact_id}")
        await expect(decided).to_contain_text("Decided by Morgan Ashby (synthetic) at")
        await expect(decided).to_contain_text("Child in need assessment (s17), RAG Amber")
    await dana.screenshot(path=str(SCREENSHOTS / "decided-contact.png"), full_page=True)

    # Exactly one MASH decision on the contact went through the hub: Morgan's.
    def covering(records: list[Any]) -> list[dict[str, Any]]:
        notices = [bus.notice(r)[0] for r in records]
        return [n for n in notices if contact_id in n["detail"].get("related_notice_ids", [])]

    records = await decisions_topic.read_until(lambda rs: bool(covering(rs)), timeout_s=60)
    records += await decisions_topic.drain(quiet_s=3)
    (notice,) = covering(records)
    assert notice["detail"]["outcome"] == "S17_ASSESSMENT"
    assert (
        "Decided by Morgan Ashby (synthetic) (MASH manager)"
        in (notice["narrative"]["full_account"])
    )
    await decisions_topic.stop()
    await feed.stop()
