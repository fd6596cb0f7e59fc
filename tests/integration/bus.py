"""Helpers for tests that read topics on the real broker.

Readers use manual partition assignment (no consumer group), so tests never disturb the
offsets of the services they observe, and read_committed, like every real consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAuthorizationFailedError

from services.hubkit import bus as hubkit_bus
from services.hubkit.bus import sasl_options
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology


class TopicReader(hubkit_bus.TopicReader):
    """hubkit's TopicReader with the partition count taken from the topology."""

    def __init__(self, settings: HubSettings, principal: str, topic: str) -> None:
        partitions = load_topology(settings.policies_dir).partitions(topic)
        super().__init__(settings, principal, topic, partitions=partitions)


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
