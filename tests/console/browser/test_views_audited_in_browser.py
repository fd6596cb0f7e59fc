"""Every successful view is audited (issue 16, item 7), in a real browser against the real
hub: a MASH manager opens a notice published through the hub and the child's chronology;
each view is on audit.access.v1 as a console-signed event (NOTICE_VIEWED, CHILD_VIEWED: who,
which feed, why, which notices and agencies, the child's pseudonymous key) that the audit
log accepts as a console access entry indexed under the child's key, so a subject access
report finds it. Nothing shown on the page is in the event.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.audit.indexer import EntryKind, SourcePosition, entry_for_bytes
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC
from tests.console.browser.conftest import Agencies, sign_in
from tests.console.harness import ConsoleServers
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]

MANAGER_FEED = "feed.mash-manager.v1"


async def test_opening_a_notice_and_a_child_is_in_the_audit_log(
    stack: HubSettings,
    gateway: None,
    servers: ConsoleServers,
    open_browser: Any,
    agencies: Agencies,
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    keys = KeyDirectory.load(stack.keys_dir / "trusted")
    contact = agencies.synthetic.notice("SAFEGUARDING_CONTACT")  # to the MASH (R1, R2)
    child_key = contact["subject"]["linkage_key"]
    feed = await TopicReader(stack, "feed-mash-manager", MANAGER_FEED).start()
    contact_id = await agencies.publish(contact)
    await feed.read_until(lambda rs: any(contact_id.encode() in r.value for r in rs), timeout_s=180)
    await feed.stop()
    audit = await TopicReader(stack, "audit", AUDIT_ACCESS_TOPIC).start()

    page = await sign_in(await open_browser(), servers, "mash.manager")
    opened = await page.goto(f"{servers.console_url}/items/{contact_id}")
    assert opened is not None
    assert opened.status == 200
    await page.get_by_role("link", name=re.compile("Open the child's chronology")).click()
    await page.wait_for_url(f"{servers.console_url}/children/**")

    def views(records: list[ConsumerRecord]) -> dict[str, tuple[dict[str, Any], bytes]]:
        found = {}
        for r in records:
            try:
                event = open_audit_record(catalog, r.value, keys, topic=AUDIT_ACCESS_TOPIC).record
            except AuditRecordRejected:
                continue
            shown = event.get("consultation") or {}
            if event["actor"] and contact_id in shown.get("notice_ids", ()):
                found[event["event"]] = (event, r.value)
        return found

    logged = views(
        await audit.read_until(lambda rs: len(views(rs)) >= 2, timeout_s=60)  # both views
    )
    await audit.stop()
    notice_event, notice_bytes = logged["NOTICE_VIEWED"]
    assert notice_event["notice_id"] == contact_id
    assert notice_event["feed"]["subscriber_id"] == "mash-manager"
    assert notice_event["actor_roles"] == ["MASH_MANAGER"]
    assert notice_event["consultation"]["purpose"] == "MASH_TRIAGE"
    assert notice_event["consultation"]["source_agencies"] == [contact["source"]["agency"]]
    assert notice_event["consultation"]["subject_linkage_key"] == child_key
    assert contact["subject"]["given_name"].encode() not in notice_bytes
    child_event, child_bytes = logged["CHILD_VIEWED"]
    assert child_key in child_event["consultation"]["child_keys"]
    # The audit log enters both as console access events under the child's key.
    for data in (notice_bytes, child_bytes):
        entry = entry_for_bytes(
            catalog, data, keys=keys, source=SourcePosition(AUDIT_ACCESS_TOPIC, 0, 0)
        )
        assert entry.kind is EntryKind.CONSOLE_ACCESS
        assert entry.columns.subject_linkage_key == child_key
