"""Issue 19 in a real browser against the real hub: a police contact published with the
agency's per-field signature reaches the MASH manager's feed through the gateway, and the
item page says, in a labelled status, that its fields were checked against the police's own
signature (the warning for a field that does not match is tested over HTTP with a tampered
item: tests/console/unit/test_field_provenance_pages.py; a real hub never sends one)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from playwright.async_api import expect

from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import HubError
from services.hubkit.feed_items import open_feed_message
from services.hubkit.settings import HubSettings
from tests.console.browser.conftest import Agencies, sign_in
from tests.console.harness import ConsoleServers
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]


async def test_the_manager_sees_the_fields_checked_against_the_police_signature(
    stack: HubSettings,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    keys = KeyDirectory.load(stack.keys_dir / "trusted")
    feed = await TopicReader(stack, "feed-mash-manager", "feed.mash-manager.v1").start()
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT")
    contact_id = await agencies.publish(contact)

    def notice_id(record: ConsumerRecord) -> str | None:
        try:  # the shared feed may hold other tests' forgeries
            return str(open_feed_message(catalog, keys, record.value).record["notice_id"])
        except HubError:
            return None

    def arrived(records: list[ConsumerRecord]) -> bool:
        return any(notice_id(r) == contact_id for r in records)

    try:
        await feed.read_until(arrived, timeout_s=90)
    finally:
        await feed.stop()
    page = await sign_in(await open_browser(), servers, "mash.manager")
    await page.goto(f"{servers.console_url}/items/{contact_id}")
    status = page.get_by_role("status").filter(has_text="own signature")
    await expect(status).to_contain_text(
        re.compile(r"Checked against Police \(Synthetic Constabulary\)'s own signature: \d+ fields")
    )
    await expect(page.get_by_role("alert").filter(has_text="does not match")).to_have_count(0)
