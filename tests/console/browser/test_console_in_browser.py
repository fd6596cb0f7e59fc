"""The MASH triage console in a real browser against the real hub (issue 7).

A MASH manager signs in (OIDC, authorization code + PKCE, the IdP's own form), sees a notice
published through the hub arrive in the queue without reloading, opens the child's
chronology across agencies, records a triage decision, and the decision lands on the bus:
the MASH_DECISION notice on notices.mash.v1, then its feed item, then on the page. A social
worker cannot open a notice outside their feed: 403, and a console-signed ACCESS_REFUSED
access event on audit.access.v1.
Everything can be done from the keyboard. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from playwright.async_api import expect

from services.hubkit.audit_trail import open_audit_record
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.feed_items import open_feed_message
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, Topology
from tests.console.browser.conftest import Agencies, sign_in
from tests.console.harness import ConsoleServers
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]

MANAGER_FEED = "feed.mash-manager.v1"


class Bus:
    """Decodes what the tests read back from the broker (signatures checked)."""

    def __init__(self, settings: HubSettings) -> None:
        self.catalog = SchemaCatalog(settings.schemas_dir)
        self.keys = KeyDirectory.load(settings.keys_dir / "trusted")

    def feed_item(self, record: ConsumerRecord) -> dict[str, Any]:
        """A hub-signed feed record: a FeedItem, or a FeedRetraction (withdrawal) another test
        left on the shared feed; both name their notice_id."""
        return open_feed_message(self.catalog, self.keys, record.value).record

    def notice(self, record: ConsumerRecord) -> tuple[dict[str, Any], str]:
        verified = open_envelope(self.catalog, record.value, self.keys)
        return self.catalog.decode(verified.payload, MessageType.NOTICE), verified.owner

    def access_event(self, record: ConsumerRecord) -> dict[str, Any] | None:
        """A console access event signed by the console's key; None for anything else."""
        try:
            return open_audit_record(
                self.catalog, record.value, self.keys, topic=AUDIT_ACCESS_TOPIC
            ).record
        except AuditRecordRejected:
            return None


def _with(bus: Bus, decode: str, notice_id: str, records: list[ConsumerRecord]) -> list[Any]:
    found = []
    for record in records:
        decoded = getattr(bus, decode)(record)
        value = decoded[0] if isinstance(decoded, tuple) else decoded
        if str(value["notice_id"]) == notice_id:
            found.append((record, decoded))
    return found


async def test_triage_worker_journey(
    stack: HubSettings,
    topology: Topology,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
    screenshots: Any,
) -> None:
    bus = Bus(stack)
    synthetic = agencies.synthetic
    child = synthetic.child()
    # What other agencies already said about this child (the "tell it once" view).
    health = synthetic.notice("HEALTH_SAFEGUARDING_ALERT", child=child)
    status = synthetic.notice("CSC_STATUS_CHANGE", child=child)
    update = synthetic.notice("VCS_UPDATE", child=child)
    for earlier in (health, status, update):
        await agencies.publish(earlier)

    feed = await TopicReader(stack, "feed-mash-manager", MANAGER_FEED).start()
    decisions_topic = await TopicReader(stack, "gateway", "notices.mash.v1").start()
    browser = await open_browser()
    page = await sign_in(browser, servers, "mash.manager")
    assert await page.title() == "Awaiting decision - safehub (synthetic data)"
    await expect(page.locator("[data-live-indicator]")).to_be_visible()  # stream connected

    # A contact arrives through the hub while the queue is open.
    await page.evaluate("window.__notReloaded = true")
    contact = synthetic.notice("SAFEGUARDING_CONTACT", child=child)
    contact["risk"] = {"level": "HIGH", "immediate_danger": True}
    contact_id = await agencies.publish(contact)
    published = time.time()
    row = page.locator(f"#row-{contact_id}")
    # New notices wait in a bar above the list until asked for (the list never moves under
    # the mouse); the bar is on screen when the row would have been.
    # Generous: the gateway may be rebalancing on a shared broker. What the console adds is
    # measured separately, from the moment the hub released the item to the feed.
    show = page.get_by_role("status").get_by_role("button", name="Show them")
    await show.wait_for(timeout=90_000)
    on_screen = time.time()
    await show.click()
    while not await row.count():  # another run's notice came first: ask again for ours
        await show.click(timeout=60_000)
    assert await page.evaluate("window.__notReloaded") is True, "the page was reloaded"
    released = await feed.read_until(
        lambda rs: bool(_with(bus, "feed_item", contact_id, rs)), timeout_s=90
    )
    (record, _item), *_ = _with(bus, "feed_item", contact_id, released)
    latency = on_screen - record.timestamp / 1000
    print(
        f"\ncontact: published -> on screen {on_screen - published:.2f}s; "
        f"released to the feed -> on screen {latency:.2f}s"
    )
    assert latency < 1.5, f"took {latency:.2f}s from the feed to the screen"
    await expect(row).to_contain_text("Immediate danger")
    await expect(row).to_contain_text("Red (suggested)")
    await expect(row).to_contain_text("Safeguarding contact")
    await expect(row).to_contain_text("Police")
    # Immediate danger is due at once, not within the working day.
    await expect(row).to_contain_text(re.compile(r"Due now|Overdue by"))
    await page.screenshot(path=str(screenshots / "queue.png"))

    # The child's chronology, across agencies, through an opaque stable link.
    await row.get_by_role("link", name=re.compile("^Chronology")).click()
    await page.wait_for_url(re.compile(r"/children/[A-Za-z0-9_-]{66}$"))
    assert child.given_name not in page.url
    assert child.linkage_key not in page.url
    assert await page.title() == "Child chronology - safehub (synthetic data)"
    for earlier in (health, status, update):
        await expect(page.locator(f"#entry-{earlier['notice_id']}")).to_be_visible()
    held = page.locator(f"#entry-{health['notice_id']} .held")
    await expect(held).to_contain_text("Information held by Health (Synthetic NHS Trust), contact")
    why = page.locator(f"#entry-{contact_id} details.why")
    await why.locator("summary").click()
    await expect(why).to_contain_text("UK GDPR")
    await page.screenshot(path=str(screenshots / "child.png"), full_page=True)

    # A triage decision, published back through the hub.
    await page.get_by_label("Red", exact=True).check()
    await page.get_by_label("Strategy discussion (s47)").check()
    await page.get_by_label("Rationale").fill(
        "Police contact with immediate danger and a health alert in the same week."
    )
    await page.get_by_label("No", exact=True).check()
    await page.get_by_label("If not, why not").fill(
        "Telling the family could put the child at risk."
    )
    await page.get_by_label("Agreed actions (optional)").fill("Strategy discussion today")
    await page.get_by_role("button", name="Record decision").click()
    await expect(page.locator(".flash")).to_contain_text("Decision recorded")

    on_topic = await decisions_topic.read_until(
        lambda rs: any(
            contact_id in bus.notice(r)[0]["detail"].get("related_notice_ids", []) for r in rs
        ),
        timeout_s=60,
    )
    (notice, signer), *_ = [
        bus.notice(r)
        for r in on_topic
        if contact_id in bus.notice(r)[0]["detail"].get("related_notice_ids", [])
    ]
    assert signer == "adapter-mash"
    assert notice["notice_type"] == "MASH_DECISION"
    assert notice["subject"]["linkage_key"] == child.linkage_key
    assert notice["detail"]["rag"] == "RED"
    assert notice["detail"]["outcome"] == "S47_STRATEGY_DISCUSSION"
    assert notice["detail"]["decided_by_role"] == "MASH manager"
    assert notice["family_informed"]["informed"] is False
    decision_id = str(notice["notice_id"])

    fed = await feed.read_until(
        lambda rs: bool(_with(bus, "feed_item", decision_id, rs)), timeout_s=90
    )
    (decision_record, item), *_ = _with(bus, "feed_item", decision_id, fed)
    assert item["notice_type"] == "MASH_DECISION"
    assert item["outcome"] == "PERMIT"  # the MASH sees its own decisions in full (R2)

    entry = page.locator(f"#entry-{decision_id}")  # appears without reloading
    await expect(entry).to_contain_text("Decision: Strategy discussion (s47), RAG Red")
    shown = time.time() - decision_record.timestamp / 1000
    print(f"decision: released to the feed -> in the chronology {shown:.2f}s")
    await expect(page.locator(f"#entry-{contact_id}")).to_contain_text("Decided")
    await feed.stop()
    await decisions_topic.stop()


async def test_another_role_cannot_open_an_item_outside_their_feed(
    stack: HubSettings,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
) -> None:
    bus = Bus(stack)
    feed = await TopicReader(stack, "feed-mash-manager", MANAGER_FEED).start()
    audit = await TopicReader(stack, "audit", AUDIT_ACCESS_TOPIC).start()
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT")  # manager yes, LA no (R1, R2)
    contact_id = await agencies.publish(contact)
    await feed.read_until(lambda rs: bool(_with(bus, "feed_item", contact_id, rs)), timeout_s=90)

    manager = await sign_in(await open_browser(), servers, "mash.manager")
    opened = await manager.goto(f"{servers.console_url}/items/{contact_id}")
    assert opened is not None
    assert opened.status == 200

    social_worker = await sign_in(await open_browser(), servers, "social.worker")
    refused = await social_worker.goto(f"{servers.console_url}/items/{contact_id}")
    assert refused is not None
    assert refused.status == 403
    await expect(social_worker.get_by_role("heading", level=1)).to_have_text(
        "This is not available to you"
    )
    await expect(social_worker.locator("main")).not_to_contain_text(
        contact["subject"]["given_name"]
    )

    def refusal(records: list[ConsumerRecord]) -> list[dict[str, Any]]:
        decoded = [bus.access_event(r) for r in records]
        return [
            a
            for a in decoded
            if a is not None and a["event"] == "ACCESS_REFUSED" and a["notice_id"] == contact_id
        ]

    logged = refusal(await audit.read_until(lambda rs: bool(refusal(rs)), timeout_s=30))
    assert len(logged) == 1
    (record,) = logged
    assert record["refusal_reason"] == "NOT_IN_FEED"
    assert record["feed"]["subscriber_id"] == "responsible-la"
    assert record["feed"]["role"] == "SOCIAL_WORKER"
    assert record["actor_roles"] == ["SOCIAL_WORKER"]
    await feed.stop()
    await audit.stop()


async def _tab_to(page: Any, predicate: str, *, limit: int = 25) -> None:
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate(
            f"(() => {{ const el = document.activeElement; return {predicate}; }})()"
        ):
            return
    raise AssertionError(f"Tab never reached an element where {predicate}")


async def test_keyboard_only_sign_in_and_open_a_notice(
    servers: ConsoleServers, open_browser: Any
) -> None:
    page = (await open_browser()).page
    await page.goto(servers.console_url)
    await page.wait_for_load_state()
    await page.keyboard.press("Tab")  # the first stop is the skip link
    assert await page.evaluate("document.activeElement.textContent") == "Skip to main content"
    await _tab_to(page, "el.textContent === 'Sign in'")
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/authorize\?"))  # the identity provider's form
    await page.wait_for_load_state()
    await _tab_to(page, "el.id === 'username'")
    await page.keyboard.type("mash.manager")
    await page.keyboard.press("Tab")
    await page.keyboard.type(servers.passwords["mash.manager"])
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{servers.console_url}/queue")

    await _tab_to(page, "el.classList.contains('item-link')", limit=40)
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    background = await page.evaluate("getComputedStyle(document.activeElement).backgroundColor")
    assert outline != "none"
    assert background == "rgb(255, 221, 0)"  # the focus colour: unmistakable
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/items/[0-9a-f-]{36}$"))
    await expect(
        page.get_by_role("heading", level=2, name="What is shared with you")
    ).to_be_visible()
