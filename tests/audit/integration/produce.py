"""Put audit records on the real audit topic the only way the broker allows: as the gateway
principal, inside a Kafka transaction, sealed with the hub key as the gateway seals them. And
linkage changes on the linkage topic as its only writer, the child index principal."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.hubkit.audit_trail import DECISION_STREAM, seal_audit_record
from services.hubkit.bus import make_producer, sasl_options
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import load_signing_key
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    AUDIT_TOPIC,
    CHILDINDEX_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    LINKAGE_TOPIC,
)
from tests.factories import FIXED_NOW


async def produce_audit_records(
    settings: HubSettings,
    records: Sequence[dict[str, Any]],
    *,
    abort: bool = False,
    per_transaction: int = 50,
) -> None:
    """Write `records` in transactions of `per_transaction`; `abort=True` aborts them all, so
    read_committed consumers must never see them."""
    catalog = SchemaCatalog(settings.schemas_dir)
    hub_key = load_signing_key(settings.keys_dir, GATEWAY_PRINCIPAL)
    producer = make_producer(
        settings, "gateway", transactional_id=f"safehub-gateway-test-{uuid.uuid4()}"
    )
    await producer.start()
    try:
        for start in range(0, len(records), per_transaction):
            await producer.begin_transaction()
            for record in records[start : start + per_transaction]:
                key = str(record.get("subject_linkage_key") or "").encode() or None
                value = seal_audit_record(catalog, DECISION_STREAM, record, hub_key, FIXED_NOW)
                await producer.send(AUDIT_TOPIC, value, key=key)
            if abort:
                await producer.abort_transaction()
            else:
                await producer.commit_transaction()
    finally:
        await producer.stop()


async def audit_end_offset(settings: HubSettings, topic: str = AUDIT_TOPIC) -> int:
    """An audit topic's current end: a test's log starts here, so it holds only what the
    test produced (and whatever else arrives meanwhile), not the broker's whole history."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="safehub-test-admin",
        group_id=None,
        enable_auto_commit=False,
        **sasl_options(settings.credentials_dir, "admin"),
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


async def produce_linkage_changes(settings: HubSettings, records: Sequence[dict[str, Any]]) -> None:
    """Write LinkageChanged records (Avro, keyed by child key) in order, as the child index
    does: its principal is the only one the broker lets write the topic."""
    catalog = SchemaCatalog(settings.schemas_dir)
    producer = make_producer(settings, CHILDINDEX_PRINCIPAL)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                LINKAGE_TOPIC,
                catalog.encode(MessageType.LINKAGE_CHANGED, record),
                key=str(record["child_key"]).encode(),
            )
    finally:
        await producer.stop()
