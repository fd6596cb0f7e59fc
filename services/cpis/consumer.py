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
    applied     a plan started, ended or was corrected, or a withdrawn notice's change was
                taken out of its plan (a FeedRetraction, issue 18)
    unchanged   a replayed notice, a stale change, an end for a plan not held, or a
                withdrawal of a notice the register never applied
    kept        emergency access (issue 18, domain/emergency.py): a grant (a FeedItem with
                `break_glass` set, never a plan change) or a BreakGlassRefusal answering a
                request this register sent, kept apart from the plans under the child's key
    skipped     not signed by the hub's gateway key, not a FeedItem, made for another
                subscriber, or not a plan change the register can hold (FeedItemUnusable),
                including an owner's alert (BreakGlassAlert: it changes no plan) and a
                grant or refusal for a request this register did not send
A store failure is not an outcome: the position does not move, the follower reconnects and
reads the record again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import ConsumerRecord

from services.cpis.domain.emergency import (
    EmergencyGrant,
    EmergencyRefusal,
    grant_from_feed_item,
    refusal_from_feed,
)
from services.cpis.domain.register import Effect, PlanChange, parse_plan_change
from services.cpis.errors import FeedItemUnusable, StoreError
from services.cpis.store import RegisterStore
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import FeedItemUnverified
from services.hubkit.feed_follower import FeedFollower, FollowerStats
from services.hubkit.feed_items import open_feed_message
from services.hubkit.settings import HubSettings
from services.hubkit.topology import SubscriberEntry

__all__ = [
    "FollowerStats",
    "RegisterFollower",
    "RegisterMessage",
    "Withdrawal",
    "plan_change_from_record",
]

log = logging.getLogger("safehub.cpis.consumer")


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """The LA withdrew a notice the register may have applied (a FeedRetraction)."""

    notice_id: str


RegisterMessage = PlanChange | Withdrawal | EmergencyGrant | EmergencyRefusal


def plan_change_from_record(
    value: bytes, *, catalog: SchemaCatalog, hub_keys: KeyDirectory, subscriber_id: str
) -> RegisterMessage:
    """The plan change (or the withdrawal of one), or the emergency access grant or refusal,
    a feed record carries, checked to be signed by the hub's gateway and made for this
    subscriber; FeedItemUnusable otherwise."""
    try:
        message = open_feed_message(catalog, hub_keys, value, subscriber_id=subscriber_id)
    except FeedItemUnverified as error:
        raise FeedItemUnusable(error.reason, str(error)) from None
    if message.message_type is MessageType.FEED_RETRACTION:
        return Withdrawal(notice_id=str(message.record["notice_id"]))
    try:
        if message.message_type is MessageType.BREAK_GLASS_REFUSAL:
            return refusal_from_feed(message.record, subscriber_id=subscriber_id)
        if message.message_type is MessageType.FEED_ITEM and message.record.get("break_glass"):
            return grant_from_feed_item(message.record, subscriber_id=subscriber_id)
    except ValueError as error:
        raise FeedItemUnusable("emergency_access_unreadable", str(error)) from None
    if message.message_type is not MessageType.FEED_ITEM:
        raise FeedItemUnusable(
            "not_a_plan_change", f"a {message.message_type.name} changes no child protection plan"
        )
    return parse_plan_change(message.record, subscriber_id=subscriber_id)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _now_ms() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp() * 1000)


class RegisterFollower:
    """The `cpis-register` feed into the store, on hubkit's FeedFollower."""

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
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._subscriber = subscriber
        self._catalog = catalog
        self._hub_keys = hub_keys
        self._store = store
        self._clock_ms = clock_ms
        self._clock = clock
        self.stats = FollowerStats()
        self._follower = FeedFollower(
            hub=hub,
            topic=subscriber.feed_topic,
            principal=subscriber.principal,
            partitions=partitions,
            client_id=f"safehub-cpis-{subscriber.principal}",
            start_offsets=self._stored_positions,
            apply_batch=self._apply_batch,
            max_records=200,
            on_caught_up=self._log_caught_up,
            on_interrupted=self._log_interrupted,
            # A store failure is not an outcome: reconnect and read the record again.
            retry_on=(StoreError,),
            retry_s=retry_s,
        )
        self.caught_up = self._follower.caught_up
        """Set once everything committed to the feed before start-up has been applied."""

    def stop(self) -> None:
        self._follower.stop()

    async def run(self) -> None:
        """Follow the feed until stop(); reconnects after broker or store errors."""
        await self._follower.run()

    async def _stored_positions(self, topic: str) -> dict[int, int]:
        """Where the store says each partition resumes; the others start at the beginning."""
        return await asyncio.to_thread(self._store.feed_positions, topic)

    def _log_interrupted(self, error: Exception) -> None:
        log.warning(
            "register feed interrupted, retrying",
            extra={"feed": self._subscriber.feed_topic, "error": type(error).__name__},
        )

    def _log_caught_up(self) -> None:
        log.info("register caught up", extra={"feed": self._subscriber.feed_topic})

    async def _apply_batch(self, records: list[ConsumerRecord]) -> None:
        await asyncio.to_thread(self._apply_all, records)

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
        if isinstance(change, EmergencyGrant | EmergencyRefusal):
            self._keep(change, position, where)
            return
        if isinstance(change, Withdrawal):
            effect = self._store.withdraw(change.notice_id, position=position)
        else:
            effect = self._store.apply(change, now_ms=self._clock_ms(), position=position)
        if effect in (Effect.STARTED, Effect.START_CORRECTED, Effect.ENDED, Effect.WITHDRAWN):
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

    def _keep(
        self,
        answer: EmergencyGrant | EmergencyRefusal,
        position: tuple[str, int, int],
        where: dict[str, object],
    ) -> None:
        if isinstance(answer, EmergencyGrant):
            kept = self._store.keep_grant(answer, now=self._clock(), position=position)
        else:
            kept = self._store.keep_refusal(answer, position=position)
        kind = "grant" if isinstance(answer, EmergencyGrant) else "refusal"
        if kept is None:
            self.stats.skipped += 1
            outcome = f"{kind}_for_unknown_request"
        else:
            self.stats.applied += int(kept)
            self.stats.unchanged += int(not kept)
            outcome = f"{kind}_kept" if kept else f"{kind}_already_kept"
        # The request id only: it names no one.
        log.info(
            "register feed item %s/%d@%d: %s",
            where["topic"],
            where["partition"],
            where["offset"],
            outcome,
            extra={**where, "effect": outcome, "request_id": answer.request_id},
        )
