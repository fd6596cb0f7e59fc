"""Notices that can never be processed, on the real topics with the real principals: each
lands on the dead-letter topic with its reason code, the rejection is audited
(NOTICE_REJECTED), and nothing reaches any feed."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.gateway.bootstrap import build_gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import make_producer
from services.hubkit.codec import MAGIC, MessageType, SchemaCatalog
from services.hubkit.envelope import (
    KeyDirectory,
    SigningKey,
    load_signing_key,
    seal,
)
from services.hubkit.feed_items import open_feed_message
from services.hubkit.notice import decision_id_for, encode_notice
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, Topology
from tests.factories import hub_signed_audit_record, notices
from tests.gateway.integration.helpers import collect
from tests.gateway.loop_fakes import FakeChildContext
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(180)]


async def test_permanent_failures_are_dead_lettered_audited_and_never_delivered(
    stack: HubSettings, topology: Topology
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    police = topology.agency("POLICE")
    police_key = load_signing_key(stack.keys_dir, police.principal)
    now = dt.datetime.now(dt.UTC)
    generator = notices(seed=4242)

    forged = generator.notice("SAFEGUARDING_CONTACT")
    impostor = SigningKey(police_key.owner, police_key.key_id, Ed25519PrivateKey.generate())
    unclassified = generator.notice("SAFEGUARDING_CONTACT", classification=None)
    # Holding the police credential and key: publishing under the health trust's organisation,
    # and reusing a health notice's id (ids are visible to every recipient).
    other_organisation = generator.notice("SAFEGUARDING_CONTACT")
    other_organisation["source"]["organisation_code"] = topology.agency("HEALTH").organisation
    stolen_id = generator.notice("SAFEGUARDING_CONTACT")
    stolen_id["notice_id"] = generator.notice("HEALTH_SAFEGUARDING_ALERT")["notice_id"]
    bad: dict[str, tuple[bytes, bytes, str | None]] = {
        # reason -> (key, value, notice id the gateway can know)
        "BAD_SIGNATURE": (
            forged["subject"]["linkage_key"].encode(),
            seal(catalog, encode_notice(catalog, forged), impostor, now),
            None,
        ),
        "UNKNOWN_SCHEMA_FINGERPRINT": (
            b"unknown-schema",
            seal(catalog, MAGIC + bytes(range(8)) + b"body", police_key, now),
            None,
        ),
        "MISSING_CLASSIFICATION": (
            unclassified["subject"]["linkage_key"].encode(),
            seal(catalog, encode_notice(catalog, unclassified), police_key, now),
            unclassified["notice_id"],
        ),
        "WRONG_ORGANISATION": (
            other_organisation["subject"]["linkage_key"].encode(),
            seal(catalog, encode_notice(catalog, other_organisation), police_key, now),
            None,  # an id not bound to its source is never recorded (it may be another's)
        ),
        "NOTICE_ID_NOT_BOUND": (
            stolen_id["subject"]["linkage_key"].encode(),
            seal(catalog, encode_notice(catalog, stolen_id), police_key, now),
            None,
        ),
    }
    our_notice_ids = {
        forged["notice_id"],
        unclassified["notice_id"],
        other_organisation["notice_id"],
        stolen_id["notice_id"],
    }

    dead = await TopicReader(stack, "admin", DEADLETTER_TOPIC).start()
    audit = await TopicReader(stack, "audit", AUDIT_TOPIC).start()
    feeds = {
        s.subscriber_id: await TopicReader(stack, s.principal, s.feed_topic).start()
        for s in topology.subscribers
    }
    producer = make_producer(stack, police.principal)
    await producer.start()
    positions: dict[str, tuple[int, int]] = {}
    try:
        for reason, (key, value, _) in bad.items():
            sent = await producer.send_and_wait(police.topic, value=value, key=key)
            positions[reason] = (sent.partition, sent.offset)
    finally:
        await producer.stop()

    def dead_letter_of_ours(record: ConsumerRecord) -> dict[str, Any] | None:
        letter = catalog.decode(record.value, MessageType.DEAD_LETTER)
        where = (letter["source_partition"], letter["source_offset"])
        ours = letter["source_topic"] == police.topic and where in positions.values()
        return letter if ours else None

    expected_audit_ids = {
        decision_id_for(
            notice_id=notice_id or f"{police.topic}/{positions[reason][0]}/{positions[reason][1]}",
            subscriber_id="rejected",
        ): reason
        for reason, (_, _, notice_id) in bad.items()
    }

    hub_keys = KeyDirectory.load(stack.keys_dir / "trusted")

    def rejection_of_ours(record: ConsumerRecord) -> dict[str, Any] | None:
        audited = hub_signed_audit_record(catalog, record.value, hub_keys)
        if audited is None:
            return None
        return audited if str(audited["decision_id"]) in expected_audit_ids else None

    gateway = build_gateway(stack, GatewaySettings(engine="opa"), child_context=FakeChildContext())
    running = asyncio.create_task(gateway.run())
    try:
        letters = await collect(dead, dead_letter_of_ours, count=len(bad), timeout_s=120)
        rejections = await collect(audit, rejection_of_ours, count=len(bad), timeout_s=60)
        delivered = {}
        for subscriber_id, reader in feeds.items():
            delivered[subscriber_id] = [
                message.record["notice_id"]
                for message in (
                    open_feed_message(catalog, hub_keys, r.value)
                    for r in await reader.drain(quiet_s=1.5)
                )
                # The shared feeds may also carry another test's withdrawals.
                if message.message_type is MessageType.FEED_ITEM
            ]
    finally:
        gateway.stop()
        await running
        for reader in (dead, audit, *feeds.values()):
            await reader.stop()

    ours = {(x["source_partition"], x["source_offset"]): x for x in letters}
    assert len(letters) == len(ours) == len(bad), "each bad message is dead-lettered once"
    for reason, position in positions.items():
        letter = ours[position]
        assert letter["reason"] == reason
        assert letter["notice_id"] == bad[reason][2]
        assert letter["original_value"] == bad[reason][1]  # kept for the investigation

    assert sorted(a["reason_code"] for a in rejections) == sorted(bad)
    for record in rejections:
        assert record["event"] == "NOTICE_REJECTED"
        assert record["reason_code"] == expected_audit_ids[str(record["decision_id"])]
        assert record["recipient"] is None
        assert record["fields_disclosed"] == []
        assert record["disclosed_at"] is None

    for subscriber_id, notice_ids in delivered.items():
        assert not our_notice_ids & set(notice_ids), subscriber_id
