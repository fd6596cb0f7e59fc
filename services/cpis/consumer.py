"""The register's Kafka edge: follow the `cpis-register` feed into the store.

Connected as the feed's own principal (`feed-cpis-register`), which may read that feed and
nothing else, read_committed (nothing is visible before the gateway's audit record for it
commits). Every partition is assigned to this process and there is no consumer group: the
register is a local store, so each process reads the whole feed, and its place in the feed
is kept in the store itself, in the same transaction as what each record changed. A crash
anywhere replays nothing twice; a register that was lost (or a new one) starts again from
the beginning of the feed.

Every record gets an explicit outcome, counted and logged with topic, partition, offset and a
reason code (never content):
    applied     a plan started, ended or was corrected
    unchanged   a replayed notice, a stale change, or an end for a plan not held
    skipped     not signed by the hub's gateway key, not a FeedItem, made for another
                subscriber, or not a plan change the register can hold (FeedItemUnusable)
A store failure is not an outcome: the position does not move, the follower reconnects and
reads the record again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.cpis.domain.register import Effect, PlanChange, parse_plan_change
from services.cpis.errors import FeedItemUnusable, StoreError
from services.cpis.store import RegisterStore
from services.hubkit.bus import reader_options
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import HubError
from services.hubkit.settings import HubSettings
from services.hubkit.topology import GATEWAY_PRINCIPAL, SubscriberEntry

__all__ = ["FollowerStats", "RegisterFollower", "plan_change_from_record"]

log = logging.getLogger("safehub.cpis.consumer")


@dataclass
class FollowerStats:
    applied: int = 0
    unchanged: int = 0
    skipped: int = 0


def plan_change_from_record(
    value: bytes, *, catalog: SchemaCatalog, hub_keys: KeyDirectory, subscriber_id: str
) -> PlanChange:
    """The plan change a feed record carries, checked to be signed by the hub's gateway and
    made for this subscriber; FeedItemUnusable otherwise."""
    try:
        verified = open_envelope(catalog, value, hub_keys)
        if verified.owner != GATEWAY_PRINCIPAL:
            raise FeedItemUnusable("not_signed_by_hub", "the item is not signed by the gateway")
        item = catalog.decode(verified.payload, MessageType.FEED_ITEM)
    except HubError as error:
        raise FeedItemUnusable(
            "unverifiable", f"the item does not verify as a hub feed item ({type(error).__name__})"
        ) from None
    return parse_plan_change(item, subscriber_id=subscriber_id)


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


class RegisterFollower:
    def __init__(
        self,
        *,
        hub: HubSettings,
        subscriber: SubscriberEntry,
        partitions: int,
        catalog: SchemaCatalog,
        hub_keys: KeyDirectory,
        store: RegisterStore,
        retry_s: float = 2.0,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._hub = hub
        self._subscriber = subscriber
        self._partitions = partitions
        self._catalog = catalog
        self._hub_keys = hub_keys
        self._store = store
        self._retry_s = retry_s
        self._clock_ms = clock_ms
        self.caught_up = asyncio.Event()
        """Set once everything committed to the feed before start-up has been applied."""
        self.stats = FollowerStats()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the feed until stop(); reconnects after broker or store errors."""
        while not self._stopping.is_set():
            try:
                await self._follow()
            except (KafkaError, OSError, StoreError) as error:
                log.warning(
                    "register feed interrupted, retrying",
                    extra={"feed": self._subscriber.feed_topic, "error": type(error).__name__},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._retry_s)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            **reader_options(
                self._hub,
                self._subscriber.principal,
                client_id=f"safehub-cpis-{self._subscriber.principal}",
            )
        )
        await consumer.start()
        try:
            topic = self._subscriber.feed_topic
            partitions = [TopicPartition(topic, p) for p in range(self._partitions)]
            consumer.assign(partitions)
            stored = await asyncio.to_thread(self._store.feed_positions, topic)
            for tp in partitions:
                if tp.partition in stored:
                    consumer.seek(tp, stored[tp.partition])
                else:
                    await consumer.seek_to_beginning(tp)
            # read_committed: the last stable offsets, i.e. what the gateway had committed.
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            await self._check_caught_up(consumer, ends)
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=250, max_records=200)
                for records in batches.values():
                    await asyncio.to_thread(self._apply_all, records)
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
            log.info("register caught up", extra={"feed": self._subscriber.feed_topic})
        self.caught_up.set()

    def _apply_all(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._apply(record)

    def _apply(self, record: ConsumerRecord) -> None:
        where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
        position = (record.topic, record.partition, record.offset + 1)
        try:
            change = plan_change_from_record(
                record.value,
                catalog=self._catalog,
                hub_keys=self._hub_keys,
                subscriber_id=self._subscriber.subscriber_id,
            )
        except FeedItemUnusable as error:
            self._store.advance(position)
            self.stats.skipped += 1
            # Position and reason code only (never content), in the message too, so an
            # operator reading a plain log sees why.
            log.warning(
                "register feed item %s/%d@%d skipped: %s",
                record.topic,
                record.partition,
                record.offset,
                error.code,
                extra={**where, "reason": error.code},
            )
            return
        effect = self._store.apply(change, now_ms=self._clock_ms(), position=position)
        if effect in (Effect.STARTED, Effect.START_CORRECTED, Effect.ENDED):
            self.stats.applied += 1
        else:
            self.stats.unchanged += 1
        outcome = effect.value if effect else "already_applied"
        log.info(
            "register feed item %s/%d@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            outcome,
            extra={**where, "effect": outcome},
        )
