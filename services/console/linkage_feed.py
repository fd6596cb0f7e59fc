"""The console's Kafka edge for linkage: follow `childindex.linkage.v1` (LINKAGE_CHANGED,
written by the child index alone) into the alias map (domain/linkage.py), so a child's page
shows the notices of every key the index has merged into that child.

Connected as the `console` principal, whose rights on this topic are READ (and its group
`CONSOLE_LINKAGE_GROUP`, which it never commits to). Like the feed followers, it reads the
single partition from the beginning at every start and after every reconnect: the alias map
is in memory, and applying is idempotent by event id, so a replay changes nothing.
read_committed, though the index's producer is not transactional, so it costs nothing.

Every record gets an explicit outcome: applied, unchanged (a repeat), or skipped with a log
line (topic, partition, offset, error class; never a key) when it does not decode as a
LinkageChanged or names no key to change. Skipping is right for a reader: the index and the
audit log are the record of what was decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.console.domain.linkage import ChildAliases, linkage_change_from_record
from services.hubkit.bus import consumer_options
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.errors import HubError
from services.hubkit.feed_follower import FollowerStats
from services.hubkit.settings import HubSettings
from services.hubkit.topology import CONSOLE_LINKAGE_GROUP, CONSOLE_PRINCIPAL, LINKAGE_TOPIC

__all__ = ["LinkageFollower"]

log = logging.getLogger("safehub.console.linkage")


class LinkageFollower:
    def __init__(
        self,
        *,
        hub: HubSettings,
        catalog: SchemaCatalog,
        aliases: ChildAliases,
        partitions: int,
        on_change: Callable[[frozenset[str]], None],
        retry_s: float = 2.0,
    ) -> None:
        self._hub = hub
        self._catalog = catalog
        self.aliases = aliases
        self._partitions = partitions
        self._on_change = on_change
        self._retry_s = retry_s
        self.stats = FollowerStats()
        self.caught_up = asyncio.Event()
        """Set once every change on the topic before start-up has been applied."""
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the topic until stop(); reconnects after broker errors."""
        while not self._stopping.is_set():
            try:
                await self._follow()
            except (KafkaError, OSError) as error:
                log.warning(
                    "linkage follower lost the broker, retrying",
                    extra={"topic": LINKAGE_TOPIC, "error": type(error).__name__},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._retry_s)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            **consumer_options(self._hub, CONSOLE_PRINCIPAL, group_id=CONSOLE_LINKAGE_GROUP)
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(LINKAGE_TOPIC, p) for p in range(self._partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            await self._check_caught_up(consumer, ends)
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=250, max_records=500)
                for records in batches.values():
                    for record in records:
                        self._apply(record)
                if not self.caught_up.is_set():
                    await self._check_caught_up(consumer, ends)
        finally:
            await consumer.stop()

    async def _check_caught_up(
        self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
    ) -> None:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return
        if not self.caught_up.is_set():
            log.info("linkage caught up", extra={"changes": len(self.aliases)})
        self.caught_up.set()

    def _apply(self, record: ConsumerRecord) -> None:
        try:
            decoded = self._catalog.decode(record.value or b"", MessageType.LINKAGE_CHANGED)
            change = linkage_change_from_record(decoded)
        except (HubError, KeyError, TypeError, ValueError) as error:
            self.stats.skipped += 1
            log.error(
                "linkage change skipped",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": type(error).__name__,
                },
            )
            return
        regrouped = self.aliases.apply(change)
        if regrouped:
            self.stats.applied += 1
            self._on_change(regrouped)
        else:
            self.stats.unchanged += 1
