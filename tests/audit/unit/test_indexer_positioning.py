"""The indexer against a consumer that does what aiokafka does on assignment: it starts fetching
the new partition from the group's committed offset while the assignment callback is still
reading the store and seeking, and hands those records over meanwhile. None of them may be
written: the linkage history stays in topic order, each change read once (the flake of
tests/audit/integration/test_linkage_kafka.py: a history starting at the committed offset, and
a restarted indexer reading a change twice)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import services.audit.service as service
from services.audit.linkage import MODEL_DECIDER
from services.audit.service import AuditIndexer
from services.audit.settings import AuditSettings
from services.audit.storage_sql import SqlAuditStore
from services.hubkit.codec import MessageType
from services.hubkit.settings import HubSettings
from services.hubkit.topology import LINKAGE_TOPIC
from tests.audit.records import TRUSTED_KEYS
from tests.factories import FIXED_NOW, catalog

LINKAGE = TopicPartition(LINKAGE_TOPIC, 0)
COMMITTED = 3
"""The group's committed offset: ahead of the empty store's position (0)."""


def _records(*, unreadable_at: int | None = None) -> list[ConsumerRecord]:
    encoded = []
    for offset in range(5):
        if offset == unreadable_at:
            value = b"not a linkage change"
            encoded.append(
                ConsumerRecord(LINKAGE_TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), [])
            )
            continue
        change = {
            "event_id": str(uuid.UUID(int=7_000 + offset)),
            "kind": "MERGE",
            "child_key": f"{offset:x}" * 64,
            "other_keys": [f"{offset + 1:x}" * 64],
            "decided_by": MODEL_DECIDER,
            "review_id": None,
            "match_probability": 0.9,
            "occurred_at": FIXED_NOW,
        }
        value = catalog().encode(MessageType.LINKAGE_CHANGED, change)
        encoded.append(
            ConsumerRecord(LINKAGE_TOPIC, 0, offset, 0, 0, None, value, None, 0, len(value), [])
        )
    return encoded


class _AssigningConsumer:
    """Assigns the linkage partition on the first fetch and, while the callback is blocked in
    its seek, returns records from the committed offset from fetch number `stale_in` (1: a
    fetch begun before positioning started; 2: one begun while it ran)."""

    def __init__(self, records: list[ConsumerRecord], *, stale_in: int) -> None:
        self._records = records
        self._stale_in = stale_in
        self._fetches = 0
        self._position: int | None = None
        self._seeking = asyncio.Event()
        self._release = asyncio.Event()
        self._listener: Any = None
        self._assigning: asyncio.Task[None] | None = None

    def subscribe(self, *, topics: list[str], listener: Any) -> None:
        self._listener = listener

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._assigning is not None:
            await self._assigning

    def assignment(self) -> set[TopicPartition]:
        return {LINKAGE}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self._position = offset

    async def seek_to_beginning(self, tp: TopicPartition) -> None:
        self._seeking.set()
        await self._release.wait()
        self._position = 0

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        return None

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord]]:
        self._fetches += 1
        if self._fetches == 1:
            self._assigning = asyncio.create_task(self._listener.on_partitions_assigned({LINKAGE}))
            await self._seeking.wait()
        if self._fetches == self._stale_in:
            self._release.set()
            return {LINKAGE: self._records[COMMITTED:]}
        if self._position is None or self._position >= len(self._records):
            await asyncio.sleep(0.01)
            return {}
        batch = self._records[self._position :]
        self._position = len(self._records)
        return {LINKAGE: batch}


class _Producer:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send_and_wait(self, *_: Any, **__: Any) -> None:
        return None


@pytest.mark.parametrize("stale_in", [1, 2])
async def test_records_fetched_before_positioning_are_read_again_in_topic_order(
    stale_in: int,
    sqlite_store: SqlAuditStore,
    log_key: Ed25519PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    records = _records()
    consumer = _AssigningConsumer(records, stale_in=stale_in)
    monkeypatch.setattr(service, "make_consumer", lambda *_, **__: consumer)
    monkeypatch.setattr(service, "make_producer", lambda *_, **__: _Producer())
    indexer = AuditIndexer(
        hub=HubSettings(data_dir=tmp_path),
        settings=AuditSettings(origin="safehub.audit.unit", poll_timeout_ms=10),
        store=sqlite_store,
        catalog=catalog(),
        log_key=log_key,
        trusted_keys=lambda: TRUSTED_KEYS,
    )
    running = asyncio.create_task(indexer.run())
    async with asyncio.timeout(10):
        while len(sqlite_store.linkage_changes()) < len(records):
            assert not running.done(), running
            await asyncio.sleep(0.01)
    indexer.stop()
    await running

    kept = sqlite_store.linkage_changes()
    assert [c.source.offset for c in kept if c.source is not None] == [0, 1, 2, 3, 4]
    assert indexer.stats.linkage_repeated == 0
    assert indexer.stats.stale_batches >= 1


@pytest.mark.parametrize("stale_in", [1, 2])
async def test_a_rejection_in_a_batch_read_twice_is_counted_once(
    stale_in: int,
    sqlite_store: SqlAuditStore,
    log_key: Ed25519PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The unreadable record lies past the committed offset: in the stale batch, then read
    # again from the store's position. The operators' counter must say one, not two.
    records = _records(unreadable_at=COMMITTED + 1)
    consumer = _AssigningConsumer(records, stale_in=stale_in)
    monkeypatch.setattr(service, "make_consumer", lambda *_, **__: consumer)
    monkeypatch.setattr(service, "make_producer", lambda *_, **__: _Producer())
    indexer = AuditIndexer(
        hub=HubSettings(data_dir=tmp_path),
        settings=AuditSettings(origin="safehub.audit.unit", poll_timeout_ms=10),
        store=sqlite_store,
        catalog=catalog(),
        log_key=log_key,
        trusted_keys=lambda: TRUSTED_KEYS,
    )
    running = asyncio.create_task(indexer.run())
    async with asyncio.timeout(10):
        while len(sqlite_store.linkage_changes()) < len(records) - 1:
            assert not running.done(), running
            await asyncio.sleep(0.01)
    indexer.stop()
    await running

    assert indexer.stats.stale_batches >= 1
    assert sum(indexer.stats.rejected.values()) == 1, indexer.stats.rejected
