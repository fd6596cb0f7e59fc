"""Reading a subscriber's feed the safe way, for consoles and agency teams.

The gateway delivers each (notice, subscriber) once per committed transaction, but a reader
that crashes between handling an item and committing its offset reads it again, and a
console may rebuild its state from the start of the feed. So feed consumers are idempotent
on (notice_id, subscriber_id): `SeenDecisions` remembers what was handled (bounded, oldest
forgotten first; pass a persistent implementation of `Seen` to dedupe across restarts), and
`FeedReader` reads the feed read_committed, checks the hub's signature on every item, and
hands each (notice, subscriber) to the caller once.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.hubkit.bus import make_consumer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, open_envelope
from services.hubkit.errors import CodecError, EnvelopeError
from services.hubkit.settings import HubSettings
from services.hubkit.topology import GATEWAY_PRINCIPAL, SubscriberEntry

__all__ = ["FeedDelivery", "FeedReader", "Seen", "SeenDecisions", "verified_feed_item"]


class Seen(Protocol):
    def first_time(self, notice_id: str, subscriber_id: str) -> bool:
        """True the first time this (notice, subscriber) is offered, False ever after."""
        ...


class SeenDecisions:
    """In-memory `Seen`, bounded to the most recent `capacity` pairs."""

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()

    def first_time(self, notice_id: str, subscriber_id: str) -> bool:
        key = (notice_id, subscriber_id)
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True, slots=True)
class FeedDelivery:
    item: dict[str, Any]
    """The decoded FeedItem (view_json holds only the permitted fields)."""
    partition: int
    offset: int


class FeedReader:
    """One subscriber's feed, as that subscriber's principal, in a consumer group of its own
    (`safehub-feed-<subscriber>-<purpose>`, within the subscriber's ACL prefix).

    `poll()` returns new items, each (notice, subscriber) once; items whose hub signature does
    not verify are skipped and counted in `rejected` (nothing unsigned reaches a console).
    Call `commit()` after handling what poll() returned.
    """

    def __init__(
        self,
        hub: HubSettings,
        subscriber: SubscriberEntry,
        *,
        catalog: SchemaCatalog,
        hub_keys: KeyDirectory,
        purpose: str = "console",
        seen: Seen | None = None,
    ) -> None:
        self._subscriber = subscriber
        self._catalog = catalog
        self._hub_keys = hub_keys
        self._seen = seen or SeenDecisions()
        self._consumer: AIOKafkaConsumer = make_consumer(
            hub,
            subscriber.principal,
            subscriber.feed_topic,
            group_id=f"{subscriber.consumer_group}-{purpose}",
        )
        self._positions: dict[TopicPartition, int] = {}
        self.duplicates = 0
        self.rejected = 0

    async def start(self) -> FeedReader:
        await self._consumer.start()
        return self

    async def stop(self) -> None:
        await self._consumer.stop()

    async def poll(self, *, timeout_ms: int = 500) -> list[FeedDelivery]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms)
        fresh: list[FeedDelivery] = []
        for tp, records in batches.items():
            for record in records:
                self._positions[tp] = record.offset + 1
                item = verified_feed_item(
                    self._catalog,
                    self._hub_keys,
                    subscriber_id=self._subscriber.subscriber_id,
                    value=record.value,
                )
                if item is None:
                    self.rejected += 1
                    continue
                if not self._seen.first_time(str(item["notice_id"]), item["subscriber_id"]):
                    self.duplicates += 1
                    continue
                fresh.append(FeedDelivery(item, record.partition, record.offset))
        return fresh

    async def commit(self) -> None:
        if self._positions:
            await self._consumer.commit(dict(self._positions))
            self._positions.clear()


def verified_feed_item(
    catalog: SchemaCatalog, hub_keys: KeyDirectory, *, subscriber_id: str, value: bytes
) -> dict[str, Any] | None:
    """The FeedItem in `value` if the hub signed it and it was made for `subscriber_id`."""
    try:
        envelope = open_envelope(catalog, value, hub_keys)
        if envelope.owner != GATEWAY_PRINCIPAL:
            return None
        item = catalog.decode(envelope.payload, MessageType.FEED_ITEM)
    except (CodecError, EnvelopeError):
        return None
    if item["subscriber_id"] != subscriber_id:
        return None
    return item
