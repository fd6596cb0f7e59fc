"""The console's Kafka edge for feeds: follow each served subscriber's feed into its
projection, and tell the open pages of that subscriber's people what changed.

One follower per feed, connected as that feed's own principal (`feed-<subscriber>`), which
the broker lets read that feed and nothing else. Consumption is read_committed (nothing is
visible before its audit record commits), with manual partition assignment and no consumer
group: the projection is rebuilt from the beginning at every start, so there are no offsets
to commit, and the console never disturbs anyone else's group.

Every record gets an explicit outcome: applied to the projection, or skipped with a log
line (topic, partition, offset, error class; never content). A record is skipped when its
envelope is not signed by the hub's gateway key, does not decode as a FeedItem, or names
another subscriber. Skipping is right here: the console is a reader; the gateway and the
audit log are the record of what was shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiokafka import ConsumerRecord

from services.console.domain.feed import entry_from_feed_item
from services.console.domain.projection import Change, FeedProjection
from services.console.errors import FeedItemInvalid
from services.hubkit import feed_follower
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import HubError
from services.hubkit.feed_follower import FollowerStats
from services.hubkit.feed_items import open_feed_item
from services.hubkit.settings import HubSettings
from services.hubkit.topology import SubscriberEntry

__all__ = ["ChangeHub", "FeedFollower"]

log = logging.getLogger("safehub.console.feeds")


class ChangeHub:
    """Fans changes out to the pages listening for one subscriber. Each listener has a small
    bounded queue; a slow page misses an event rather than slowing the feed (pages re-fetch
    their whole view on the next event, so nothing is lost but latency)."""

    def __init__(self, *, queue_size: int = 256) -> None:
        self._listeners: dict[str, set[asyncio.Queue[Change]]] = {}
        self._queue_size = queue_size

    @contextlib.asynccontextmanager
    async def listen(self, subscriber_id: str) -> AsyncIterator[asyncio.Queue[Change]]:
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize=self._queue_size)
        self._listeners.setdefault(subscriber_id, set()).add(queue)
        try:
            yield queue
        finally:
            self._listeners.get(subscriber_id, set()).discard(queue)

    def publish(self, subscriber_id: str, change: Change) -> None:
        for queue in self._listeners.get(subscriber_id, ()):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(change)

    def publish_everyone(self, change: Change) -> None:
        """A change to every feed's pages (a merge or split regroups children in all)."""
        for subscriber_id in list(self._listeners):
            self.publish(subscriber_id, change)

    def listeners(self, subscriber_id: str) -> int:
        return len(self._listeners.get(subscriber_id, ()))


class FeedFollower:
    """One served subscriber's feed into its projection, on hubkit's FeedFollower."""

    def __init__(
        self,
        *,
        hub: HubSettings,
        subscriber: SubscriberEntry,
        partitions: int,
        catalog: SchemaCatalog,
        hub_keys: KeyDirectory,
        projection: FeedProjection,
        on_change: Callable[[str, Change], None],
        retry_s: float = 2.0,
    ) -> None:
        self._subscriber = subscriber
        self._catalog = catalog
        self._hub_keys = hub_keys
        self.projection = projection
        self._on_change = on_change
        self.stats = FollowerStats()
        # Rebuild from the start (no start_offsets): the projection is in memory, and
        # apply() is idempotent on notice id, so a reconnect that replays everything
        # changes nothing.
        self._follower = feed_follower.FeedFollower(
            hub=hub,
            topic=subscriber.feed_topic,
            principal=subscriber.principal,
            partitions=partitions,
            client_id=f"safehub-console-{subscriber.principal}",
            apply_batch=self._apply_batch,
            # Small batches: verifying a signature is CPU work (~0.15 ms each), and pages
            # must stay responsive while a long feed is replayed at start-up.
            max_records=100,
            on_caught_up=self._log_caught_up,
            on_interrupted=self._log_interrupted,
            retry_s=retry_s,
        )
        self.caught_up = self._follower.caught_up
        """Set once everything committed to the feed before start-up has been applied."""

    def stop(self) -> None:
        self._follower.stop()

    async def run(self) -> None:
        """Follow the feed until stop(); reconnects after broker errors."""
        await self._follower.run()

    def _log_interrupted(self, error: Exception) -> None:
        log.warning(
            "feed follower lost the broker, retrying",
            extra={"feed": self._subscriber.feed_topic, "error": type(error).__name__},
        )

    def _log_caught_up(self) -> None:
        log.info(
            "feed projection caught up",
            extra={"feed": self._subscriber.feed_topic, "items": len(self.projection)},
        )

    async def _apply_batch(self, records: list[ConsumerRecord]) -> None:
        for record in records:
            self._apply(record)

    def _apply(self, record: ConsumerRecord) -> None:
        try:
            item = open_feed_item(
                self._catalog,
                self._hub_keys,
                record.value,
                subscriber_id=self._subscriber.subscriber_id,
            )
            entry = entry_from_feed_item(item)
        except (HubError, FeedItemInvalid) as error:
            self.stats.skipped += 1
            log.error(
                "feed item skipped",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "error": type(error).__name__,
                },
            )
            return
        change = self.projection.apply(entry)
        if change.visible:
            self.stats.applied += 1
            self._on_change(self._subscriber.subscriber_id, change)
        else:
            self.stats.unchanged += 1
