"""The console's Kafka edge for feeds: follow each served subscriber's feed into its
projection, and tell the open pages of that subscriber's people what changed.

One follower per feed, connected as that feed's own principal (`feed-<subscriber>`), which
the broker lets read that feed and nothing else. Consumption is read_committed (nothing is
visible before its audit record commits), with manual partition assignment and no consumer
group, so the console never disturbs anyone else's group. Where each partition starts is
the projection's: the stored one (projection_store.py) keeps the offsets it reflects, written
with each batch's items in one transaction, and resumes there; the in-memory one starts at
the beginning. Either way every record is verified here before it is applied.

Every record gets an explicit outcome: applied to the projection, or skipped with a log
line (topic, partition, offset, error class; never content). A record is skipped when its
envelope is not signed by the hub's gateway key, does not decode as a FeedItem or a
FeedRetraction, or names another subscriber. A FeedRetraction withdraws the item it names
(domain/withdrawals.py): its content is deleted, a tombstone kept, in the same transaction as
the offset after it. A FeedItem with `break_glass` set is emergency access for one person
(issue 18, domain/break_glass.py): it goes to the grants kept apart (break_glass.py), before
the batch's offset is stored (keeping is idempotent on the request id), and never to the
projection, so it never replaces the desk's own item. The hub's two other answers about
emergency access (domain/break_glass_answers.py) are kept beside the grants the same way: a
BreakGlassRefusal on the desk that asked (told to the person who asked), a BreakGlassAlert on
the owning agency's alert desk (listed for everyone there). Skipping is right here: the console
is a reader; the gateway and the audit log are the record of what was shared.

Every FeedItem applied is also checked field by field against its agency's own signature
(issue 19, domain/provenance.py): the outcome is kept with the item for its page, and an item
whose fields do not match is applied, counted (`provenance_failed`) and logged (field path,
never a value).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from aiokafka import ConsumerRecord

from services.console.break_glass import BreakGlassGrants
from services.console.domain.break_glass import Grant, grant_from_feed_item, is_grant
from services.console.domain.break_glass_answers import (
    OwnerAlert,
    Refusal,
    alert_from_feed,
    refusal_from_feed,
)
from services.console.domain.feed import FeedEntry, entry_from_feed_item
from services.console.domain.projection import Applied, Change, FeedMessage, Projection
from services.console.domain.provenance import ProvenanceState, checked_provenance
from services.console.domain.withdrawals import withdrawal_from_feed_retraction
from services.console.errors import FeedItemInvalid
from services.hubkit import feed_follower
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import HubError
from services.hubkit.feed_follower import FollowerStats
from services.hubkit.feed_items import open_feed_message
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
        projection: Projection,
        on_change: Callable[[str, Change], None],
        grants: BreakGlassGrants | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        retry_s: float = 2.0,
    ) -> None:
        self._subscriber = subscriber
        # Emergency access grants (issue 18); None: grants are skipped (logged), never shown.
        self._grants = grants
        self._clock = clock
        self._catalog = catalog
        self._hub_keys = hub_keys
        self.projection = projection
        self._on_change = on_change
        self.stats = FollowerStats()
        self.provenance_failed: Counter[str] = Counter()
        """Items whose fields do not match the agency's signature, by reason (issue 19)."""
        # Resume where the projection says (the stored one: its offsets; the in-memory one:
        # the beginning). apply is idempotent on notice id, so a reconnect that replays
        # part of the feed changes nothing.
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
            start_offsets=self._start_offsets,
            # A write the database refused (busy, disk full) rolled back whole, offsets and
            # all: reconnecting resumes at the stored offsets and applies the batch again.
            retry_on=(sqlite3.Error,),
            on_caught_up=self._log_caught_up,
            on_interrupted=self._log_interrupted,
            on_topic_recreated=self._forget_feed,
            on_records_lost=self._log_records_lost,
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

    async def _forget_feed(self, topic: str) -> None:
        log.warning(
            "feed topic was created again (stored offsets past its end): forgetting the "
            "stored projection and reading the feed from the beginning",
            extra={"feed": topic},
        )
        self.projection.forget_feed()

    def _log_records_lost(self, partition: int, count: int) -> None:
        # Retention removed notices before this console read them: they are not in anyone's
        # queue here. An operator must look (the feed's retention is shorter than an outage).
        log.error(
            "feed records deleted by retention before the console read them",
            extra={"feed": self._subscriber.feed_topic, "partition": partition, "lost": count},
        )

    def _log_caught_up(self) -> None:
        log.info(
            "feed projection caught up",
            extra={"feed": self._subscriber.feed_topic, "items": len(self.projection)},
        )

    async def _start_offsets(self, topic: str) -> Mapping[int, int]:
        return self.projection.start_offsets(topic)

    async def _apply_batch(self, records: list[ConsumerRecord]) -> None:
        if not records:
            return
        opened = [e for e in (self._opened(r) for r in records) if e is not None]
        entries = [e for e in opened if not isinstance(e, Grant | Refusal | OwnerAlert)]
        for kept_apart in opened:
            if isinstance(kept_apart, Grant):
                self._keep_grant(kept_apart)
            elif isinstance(kept_apart, Refusal | OwnerAlert):
                self._keep_answer(kept_apart)
        last = records[-1]
        # The batch and the offset after it in one step (one transaction when stored).
        changes = self.projection.apply_all(
            entries, topic=last.topic, partition=last.partition, next_offset=last.offset + 1
        )
        for change in changes:
            if change.visible:
                self.stats.applied += 1
                self._on_change(self._subscriber.subscriber_id, change)
            else:
                self.stats.unchanged += 1

    def _keep_grant(self, grant: Grant) -> None:
        if grant.subscriber_id != self._subscriber.subscriber_id:
            return  # another desk's (the broker's ACLs already keep other feeds out)
        if self._grants is None:
            log.warning(
                "emergency access grant skipped: this console keeps no grants",
                extra={"feed": self._subscriber.feed_topic, "request_id": grant.request_id},
            )
            return
        if self._grants.keep(grant, now=self._clock()):
            self._on_change(
                self._subscriber.subscriber_id,
                Change(Applied.UPDATED, grant.notice_id, grant.linkage_key),
            )

    def _keep_answer(self, answer: Refusal | OwnerAlert) -> None:
        """A refusal or an owner's alert, kept apart like a grant (idempotent on its id)."""
        if answer.subscriber_id != self._subscriber.subscriber_id:
            return  # another desk's (the broker's ACLs already keep other feeds out)
        kind = "refusal" if isinstance(answer, Refusal) else "alert"
        if self._grants is None:
            log.warning(
                "emergency access answer skipped: this console keeps no grants",
                extra={"feed": self._subscriber.feed_topic, "kind": kind},
            )
            return
        new = (
            self._grants.keep_refusal(answer)
            if isinstance(answer, Refusal)
            else self._grants.keep_alert(answer)
        )
        if new:
            self._on_change(
                self._subscriber.subscriber_id,
                Change(Applied.UPDATED, answer.notice_id, answer.linkage_key),
            )

    def _checked(
        self, record: ConsumerRecord, entry: FeedEntry, item: Mapping[str, Any]
    ) -> FeedEntry:
        """The entry with its fields checked against the agency's own signature (issue 19).
        An item that fails is still applied (the hub sealed it; the page warns not to rely
        on it), and counted and logged by reason and field path, never a value."""
        provenance = checked_provenance(item, self._hub_keys)
        if provenance.state is ProvenanceState.INVALID:
            self.provenance_failed[provenance.reason or "invalid"] += 1
            log.error(
                "feed item field does not match what the agency signed",
                extra={
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "reason": provenance.reason,
                    "field": provenance.path,
                },
            )
        return dataclasses.replace(entry, provenance=provenance)

    def _opened(self, record: ConsumerRecord) -> FeedMessage | Grant | Refusal | OwnerAlert | None:
        """The record's item, withdrawal, emergency access grant, refusal or owner's alert,
        verified; None (skipped, logged) when it does not verify."""
        entry: FeedMessage | Grant | Refusal | OwnerAlert
        try:
            message = open_feed_message(
                self._catalog,
                self._hub_keys,
                record.value,
                subscriber_id=self._subscriber.subscriber_id,
            )
            if message.message_type is MessageType.FEED_RETRACTION:
                entry = withdrawal_from_feed_retraction(message.record)
            elif message.message_type is MessageType.BREAK_GLASS_REFUSAL:
                entry = refusal_from_feed(message.record)
            elif message.message_type is MessageType.BREAK_GLASS_ALERT:
                entry = alert_from_feed(message.record)
            elif is_grant(message.record):
                entry = grant_from_feed_item(message.record)
            else:
                entry = self._checked(record, entry_from_feed_item(message.record), message.record)
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
            return None
        return entry
