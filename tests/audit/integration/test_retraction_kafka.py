"""Withdrawals through the real broker (issue 18): RETRACTION_DELIVERED records written by the
gateway principal in a Kafka transaction, sealed with the hub key, and a RETRACTION_ACKNOWLEDGED
event written by the console principal, sealed with the console key, become leaves the IG
API's receipts read."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.retraction_api import receipts_for_notice
from services.audit.service import build_indexer
from services.audit.settings import AuditSettings
from services.audit.storage_sql import open_store
from services.hubkit.audit_trail import ACCESS_STREAM, seal_audit_record
from services.hubkit.bus import make_producer
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import load_signing_key
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_ACCESS_TOPIC, CONSOLE_PRINCIPAL
from tests.audit.integration.produce import audit_end_offset, produce_audit_records
from tests.audit.records import audit_records
from tests.audit.retraction_records import RECIPIENTS, acknowledgement, deliveries
from tests.factories import FIXED_NOW, notices

pytestmark = pytest.mark.kafka


async def test_receipts_of_a_withdrawal_read_from_the_broker(
    stack: HubSettings, tmp_path: Path, log_key: Ed25519PrivateKey
) -> None:
    settings = AuditSettings(
        database_url=f"sqlite:///{tmp_path / 'audit.db'}",
        origin=f"safehub.audit.test-{uuid.uuid4().hex[:8]}",
        start_offset=await audit_end_offset(stack),
        access_start_offset=await audit_end_offset(stack, AUDIT_ACCESS_TOPIC),
        checkpoint_interval_s=0.3,
        poll_timeout_ms=200,
    )
    catalog = SchemaCatalog(stack.schemas_dir)
    notice = notices(uuid.uuid4().int % 10**6).notice("HEALTH_SAFEGUARDING_ALERT")
    await produce_audit_records(stack, [*audit_records(notice), *deliveries(notice)])
    producer = make_producer(stack, CONSOLE_PRINCIPAL)
    await producer.start()
    try:
        event = acknowledgement(notice, "mash-manager", roles=("MASH_MANAGER",))
        await producer.send_and_wait(
            AUDIT_ACCESS_TOPIC,
            seal_audit_record(
                catalog,
                ACCESS_STREAM,
                event,
                load_signing_key(stack.keys_dir, CONSOLE_PRINCIPAL),
                FIXED_NOW,
            ),
        )
    finally:
        await producer.stop()

    store = open_store(settings.database_url_for(stack))
    indexer = build_indexer(stack, settings, store=store, log_key=log_key)
    running = asyncio.create_task(indexer.run())
    try:
        deadline = asyncio.get_running_loop().time() + 120
        while True:
            receipts = await asyncio.to_thread(
                receipts_for_notice, store, catalog, notice["notice_id"]
            )
            if receipts is not None and receipts.acknowledged and len(receipts.delivered) == 5:
                break
            assert asyncio.get_running_loop().time() < deadline, receipts
            await asyncio.sleep(0.25)
    finally:
        indexer.stop()
        await running
    assert [d.subscriber_id for d in receipts.delivered] == sorted(RECIPIENTS)
    assert [(a.subscriber_id, a.role) for a in receipts.acknowledged] == [
        ("mash-manager", "MASH_MANAGER")
    ]
    assert receipts.not_acknowledged == sorted(set(RECIPIENTS) - {"mash-manager"})
    store.close()
