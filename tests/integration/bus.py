"""Helpers for tests that read topics on the real broker.

Readers use manual partition assignment (no consumer group), so tests never disturb the
offsets of the services they observe, and read_committed, like every real consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAuthorizationFailedError

from services.hubkit.bus import sasl_options
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology


class TopicReader:
    """Reads one topic from its current end onwards (or from the start)."""

    def __init__(self, settings: HubSettings, principal: str, topic: str) -> None:
        self._topic = topic
        self._topology = load_topology(settings.policies_dir)
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            client_id=f"safehub-test-{principal}",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            **sasl_options(settings.credentials_dir, principal),
        )

    async def start(self, *, from_beginning: bool = False) -> TopicReader:
        await self._consumer.start()
        # A group-less consumer has no topic metadata yet; the topology knows the layout.
        partitions = self._topology.partitions(self._topic)
        assigned = [TopicPartition(self._topic, p) for p in range(partitions)]
        self._consumer.assign(assigned)
        if from_beginning:
            await self._consumer.seek_to_beginning(*assigned)
        else:
            await self._consumer.seek_to_end(*assigned)
            for tp in assigned:  # resolve the lazy seek now, before anything is produced
                await self._consumer.position(tp)
        return self

    async def read_until(
        self, done: Callable[[list[ConsumerRecord]], bool], *, timeout_s: float = 30.0
    ) -> list[ConsumerRecord]:
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while not done(records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            batch = await self._consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for partition_records in batch.values():
                records.extend(partition_records)
        return records

    async def drain(self, *, quiet_s: float = 1.5) -> list[ConsumerRecord]:
        """Everything that arrives until nothing has arrived for quiet_s."""
        records: list[ConsumerRecord] = []
        while True:
            batch = await self._consumer.getmany(timeout_ms=int(quiet_s * 1000))
            if not batch:
                return records
            for partition_records in batch.values():
                records.extend(partition_records)

    async def stop(self) -> None:
        await self._consumer.stop()


async def wait_for(predicate: Callable[[], bool], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def values(records: list[ConsumerRecord]) -> list[Any]:
    return [r.value for r in records]


async def require_topic_access(settings: HubSettings, principal: str, topic: str) -> None:
    """Ask the broker for `topic`'s metadata as `principal`.

    Raises TopicAuthorizationFailedError when the broker answers TOPIC_AUTHORIZATION_FAILED.
    (aiokafka's consumer only logs that error in a loop, so tests ask the broker directly.)
    """
    client = AIOKafkaClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=f"safehub-test-{principal}",
        **sasl_options(settings.credentials_dir, principal),
    )
    await client.bootstrap()
    try:
        client.set_topics([topic])
        await client.force_metadata_update()
        if topic in client.cluster.unauthorized_topics:
            raise TopicAuthorizationFailedError(topic)
        if not client.cluster.partitions_for_topic(topic):
            raise RuntimeError(f"{topic} has no partitions: is the stack up?")
    finally:
        await client.close()
