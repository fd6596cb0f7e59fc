"""A wrong-child health record withdrawn in real Chromium against the real hub (issue 18, part
1's "done means"): a health safeguarding alert published as the health adapter publishes it,
decided by the real gateway with real OPA, reaches the MASH manager and the health navigator
(two browsers, two people). Health withdraws it (WRONG_CHILD), signed and published exactly as
its adapter does. Both people's queues drop it without a reload: the live stream says "This
list has changed" and the list changes when the person asks ("Show the latest"), as the queue
never reflows under anyone. The notice's page answers with the tombstone, "Withdrawn by
Health: wrong child", and none of the content: a synthetic marker from the notice is neither on
the page nor anywhere in the console's SQLite files. The manager acknowledges; the console-
signed RETRACTION_ACKNOWLEDGED event is on audit.access.v1. Screenshot:
artifacts/screenshots/withdrawn-notice.png.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from playwright.async_api import Page, expect

from services.hubkit.audit_trail import open_audit_record
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.retraction import RetractionReason, retraction_id_for
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, CONSOLE_PRINCIPAL
from tests.console.browser.conftest import Agencies, sign_in
from tests.console.browser.test_console_in_browser import Bus
from tests.console.harness import ConsoleServers
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(600)]

DESKS = {"mash.manager": "mash-manager", "health.navigator": "mash-health-navigator"}


def _with_marker(notice: dict[str, Any], marker: str) -> dict[str, Any]:
    """The notice's content fields carry `marker` (synthetic; only this notice has it)."""
    notice["narrative"]["summary"] = f"Synthetic summary {marker}: concern for a fictional child."
    notice["narrative"]["full_account"] = f"Synthetic full account {marker}."
    notice["detail"]["clinical_detail"] = f"Synthetic clinical detail {marker}."
    notice["detail"]["navigator_risk_summary"] = f"Synthetic risk summary {marker}."
    return notice


def _console_files(store: Path) -> bytes:
    """The console's database with its write-ahead log and shared memory, as bytes."""
    return b"".join(p.read_bytes() for p in store.parent.glob(store.name + "*"))


async def _queue_shows(page: Page, servers: ConsoleServers, notice_id: str) -> None:
    await page.goto(f"{servers.console_url}/queue?show=all")
    await expect(page.locator(f"#row-{notice_id}")).to_be_visible()


async def test_a_wrong_child_health_alert_is_withdrawn_from_both_desks(
    stack: HubSettings,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
    screenshots: Path,
) -> None:
    bus = Bus(stack)
    catalog = SchemaCatalog(stack.schemas_dir)
    keys = KeyDirectory.load(stack.keys_dir / "trusted")
    marker = f"Quillwort-{secrets.token_hex(6)}"
    child = agencies.synthetic.child()
    alert = agencies.synthetic.notice("HEALTH_SAFEGUARDING_ALERT", child=child)
    alert = _with_marker(alert, marker)
    # Seen in an emergency department: the synthetic generator sometimes picks a sexual
    # health or SARC setting, which R4 turns into a flag for everyone but the navigator, and
    # both desks must read the content before it is withdrawn.
    alert["detail"]["setting"] = "ED"
    # Another notice about the same child, which stays: the child's page stays open to the
    # manager (a child with nothing in a feed is refused) and shows the tombstone.
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT", child=child)
    # Immediate danger: at the top of every list (newest first), however many items earlier
    # runs left on the shared broker, and among the alerts every page shows.
    alert["risk"] = {"level": "HIGH", "immediate_danger": True}
    feeds = {
        sid: await TopicReader(stack, f"feed-{sid}", f"feed.{sid}.v1").start()
        for sid in DESKS.values()
    }
    contact_id = await agencies.publish(contact)
    alert_id = await agencies.publish(alert)
    for sid, reader in feeds.items():  # the gateway gave it to both desks (decided by OPA)
        wanted = {alert_id, contact_id} if sid == "mash-manager" else {alert_id}

        def released(records: list[ConsumerRecord], wanted: set[str] = wanted) -> bool:
            return wanted <= {str(bus.feed_item(r)["notice_id"]) for r in records}

        assert released(await reader.read_until(released, timeout_s=120)), sid
        await reader.stop()
    await asyncio.sleep(1)  # the console applies what the feeds released (~0.2 s)

    # Two people, two browsers: each has it on their list and reads its content.
    pages = {}
    child_page = ""
    for username in DESKS:
        page = await sign_in(await open_browser(), servers, username)
        await page.goto(f"{servers.console_url}/items/{alert_id}")
        await expect(page.locator("main")).to_contain_text(marker)
        if username == "mash.manager":
            chronology = page.get_by_role("link", name=re.compile("Open the child's chronology"))
            child_page = str(await chronology.get_attribute("href"))
            if child_page.startswith("/"):
                child_page = servers.console_url + child_page
        await _queue_shows(page, servers, alert_id)
        pages[username] = page

    # Health withdraws it, as its adapter does.
    audit = await TopicReader(stack, "audit", AUDIT_ACCESS_TOPIC).start()
    retraction_id = await agencies.withdraw(alert, RetractionReason.WRONG_CHILD)
    assert retraction_id == retraction_id_for(alert_id)

    # Both lists drop it without a reload: the live stream tells the page the list changed,
    # and the list changes when the person asks (the queue never reflows under them). On a
    # shared broker other notices may arrive too (the bar then counts them): ask until the
    # list no longer has the row.
    for page in pages.values():
        await page.evaluate("window.__notReloaded = true")
        row, bar = page.locator(f"#row-{alert_id}"), page.locator("#new-items")
        for _ in range(10):
            await bar.get_by_role("button").click(timeout=60_000)
            if not await row.count():
                break
        await expect(row).to_have_count(0)
        assert await page.evaluate("window.__notReloaded") is True, "the page was reloaded"
        # ...and it stays gone on a fresh page.
        await page.reload()
        await expect(page.locator("#queue table")).to_be_visible()
        await expect(page.locator(f"#row-{alert_id}")).to_have_count(0)
        await expect(page.locator(f"#alert-{alert_id}")).to_have_count(0)  # no longer urgent

    # The child's page: the tombstone where the notice was (this child has no other).
    manager = pages["mash.manager"]
    await manager.goto(child_page)
    await expect(manager.locator(f"#withdrawn-{alert_id}")).to_contain_text(
        "Withdrawn by Health: wrong child"
    )
    assert marker not in await manager.content()

    # The notice's page is the tombstone, for both: nothing of the content.
    for page in pages.values():
        opened = await page.goto(f"{servers.console_url}/items/{alert_id}")
        assert opened is not None
        assert opened.status == 200
        await expect(page.get_by_role("heading", name="Notice withdrawn")).to_be_visible()
        await expect(page.locator("main")).to_contain_text("Withdrawn by Health: wrong child")
        assert marker not in await page.content()
    await manager.screenshot(path=str(screenshots / "withdrawn-notice.png"), full_page=True)
    store = servers.console.resolved_store_path(stack.data_dir)
    assert store.stat().st_size > 0
    assert marker.encode() not in _console_files(store)

    # The manager acknowledges: logged (console-signed) before it stands.
    await manager.get_by_role("button", name="Acknowledge the withdrawal").click()
    await expect(manager.locator(".flash")).to_contain_text("Your acknowledgement is recorded.")
    await expect(manager.locator(".acknowledged")).to_be_visible()

    def acknowledgements(records: list[ConsumerRecord]) -> list[tuple[dict[str, Any], bytes]]:
        found = []
        for r in records:
            try:
                event = open_audit_record(catalog, r.value, keys, topic=AUDIT_ACCESS_TOPIC).record
            except AuditRecordRejected:
                continue
            if event["event"] == "RETRACTION_ACKNOWLEDGED" and event["notice_id"] == alert_id:
                found.append((event, r.value))
        return found

    logged = acknowledgements(
        await audit.read_until(lambda rs: bool(acknowledgements(rs)), timeout_s=60)
    )
    await audit.stop()
    assert len(logged) == 1
    event, value = logged[0]
    assert open_envelope(catalog, value, keys).owner == CONSOLE_PRINCIPAL
    assert str(event["retraction_id"]) == retraction_id
    assert event["feed"]["subscriber_id"] == "mash-manager"
    assert event["actor_roles"] == ["MASH_MANAGER"]
    assert event["consultation"]["subject_linkage_key"] == alert["subject"]["linkage_key"]
    assert marker.encode() not in value
