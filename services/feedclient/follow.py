"""The feed client's wiring: follow one subscriber's feed on the broker, check every record
(services.feedclient.lines), write it to a file or POST it to a webhook, commit the position
(services.feedclient.ledger). Kafka is read as the feed's own principal with
hubkit.feed_follower (assign + the client's own offsets, read_committed, no consumer group).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.feedclient.errors import (
    BrokerUnreachable,
    FeedClientError,
    FeedRecreated,
)
from services.feedclient.ledger import Ledger
from services.feedclient.lines import FeedLine, FeedPosition, Rejected, read_record
from services.feedclient.webhook import Webhook
from services.hubkit.bus import reader_options
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.feed_follower import FeedFollower
from services.hubkit.settings import HubSettings

__all__ = ["FeedClient", "FeedSource", "FollowCounts", "feed_ends"]


@dataclass(frozen=True, slots=True)
class FeedSource:
    subscriber_id: str
    topic: str
    principal: str
    partitions: int


@dataclass
class FollowCounts:
    written: Counter[str] = field(default_factory=Counter)
    """Lines written (or delivered), by kind."""
    rejected: int = 0

    def summary(self, source: FeedSource) -> str:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.written.items()))
        return (
            f"{source.subscriber_id}: {sum(self.written.values())} lines written"
            f"{f' ({kinds})' if kinds else ''}, {self.rejected} rejected"
        )


async def feed_ends(hub: HubSettings, source: FeedSource, *, timeout_s: float) -> dict[int, int]:
    """Each partition's end (what the gateway had committed), read as the feed's principal."""
    consumer = AIOKafkaConsumer(
        **reader_options(hub, source.principal, client_id=f"safehub-feedclient-{source.topic}"),
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        await asyncio.wait_for(consumer.start(), timeout_s)
    except (KafkaError, OSError, TimeoutError) as error:
        await consumer.stop()
        raise BrokerUnreachable(
            f"cannot reach the broker at {hub.kafka_bootstrap} as {source.principal}: "
            f"{type(error).__name__}"
        ) from None
    try:
        tps = [TopicPartition(source.topic, p) for p in range(source.partitions)]
        consumer.assign(tps)
        ends = await asyncio.wait_for(consumer.end_offsets(tps), timeout_s)
        return {tp.partition: offset for tp, offset in ends.items()}
    except (KafkaError, OSError, TimeoutError) as error:
        raise BrokerUnreachable(
            f"cannot read {source.topic}'s end as {source.principal}: {type(error).__name__}"
        ) from None
    finally:
        await consumer.stop()


class FeedClient:
    """Follows `source` into `ledger` (and `webhook`, when given) until stop(), or, with
    `once`, until it has caught up with what the feed held at start."""

    def __init__(
        self,
        *,
        hub: HubSettings,
        source: FeedSource,
        catalog: SchemaCatalog,
        keys: KeyDirectory,
        ledger: Ledger,
        webhook: Webhook | None,
        once: bool,
        report: Callable[[str], None],
        retry_s: float = 2.0,
    ) -> None:
        self._source = source
        self._catalog = catalog
        self._keys = keys
        self._ledger = ledger
        self._webhook = webhook
        self._once = once
        self._report = report
        self._connected = False
        self._failure: FeedClientError | None = None
        self.counts = FollowCounts()
        self._follower = FeedFollower(
            hub=hub,
            topic=source.topic,
            principal=source.principal,
            partitions=source.partitions,
            client_id=f"safehub-feedclient-{source.subscriber_id}",
            apply_batch=self._apply,
            max_records=200,
            start_offsets=self._start_offsets,
            on_caught_up=self._caught_up,
            on_interrupted=self._interrupted,
            on_topic_recreated=self._recreated,
            on_records_lost=self._lost,
            retry_s=retry_s,
        )
        self._bootstrap = hub.kafka_bootstrap

    def stop(self) -> None:
        self._follower.stop()

    async def run(self) -> FollowCounts:
        """Raises FeedClientError (with its exit code) when it cannot go on."""
        try:
            await self._follower.run()
        finally:
            self._ledger.close()
        if self._failure is not None:
            raise self._failure
        return self.counts

    async def _start_offsets(self, topic: str) -> Mapping[int, int]:
        # Called on each (re)connect: recover the files to the committed position first.
        self._connected = True
        return self._ledger.open()

    async def _apply(self, records: list[ConsumerRecord]) -> None:
        outcomes = [
            read_record(
                r.value,
                FeedPosition(r.topic, r.partition, r.offset),
                catalog=self._catalog,
                keys=self._keys,
                subscriber_id=self._source.subscriber_id,
            )
            for r in records
        ]
        if self._webhook is None:
            self._ledger.append(
                lines=[o.text() for o in outcomes if isinstance(o, FeedLine)],
                rejects=[o.text() for o in outcomes if isinstance(o, Rejected)],
            )
            self._ledger.commit(records[-1].partition, records[-1].offset + 1)
            for outcome in outcomes:
                self._count(outcome)
            return
        for outcome in outcomes:
            if isinstance(outcome, FeedLine):
                status = await self._webhook.deliver(outcome)
                if status is not None:
                    outcome = Rejected(
                        outcome.position,
                        "receiver",
                        f"http_{status}",
                        f"the webhook refused the line (HTTP {status})",
                        str(outcome.body["notice_id"]),
                        line=outcome,
                    )
            if isinstance(outcome, Rejected):
                self._ledger.append(rejects=[outcome.text()])
            self._ledger.commit(outcome.position.partition, outcome.position.offset + 1)
            self._count(outcome)

    def _count(self, outcome: FeedLine | Rejected) -> None:
        if isinstance(outcome, FeedLine):
            self.counts.written[outcome.kind] += 1
        else:
            self.counts.rejected += 1
            self._report(outcome.summary)

    def _caught_up(self) -> None:
        if self._once:
            self._follower.stop()

    def _interrupted(self, error: Exception) -> None:
        what = type(error).__name__
        if not self._connected or self._once:
            # Nothing is lost: the next run resumes from the committed position.
            if isinstance(error, KafkaError):
                self._failure = BrokerUnreachable(
                    f"cannot read {self._source.topic} at {self._bootstrap} as "
                    f"{self._source.principal}: {what}; the next run resumes where this stopped"
                )
            else:
                self._failure = FeedClientError(f"cannot go on: {what}: {error}")
            self._follower.stop()
            return
        self._report(f"INTERRUPTED {what}; reconnecting and resuming from the committed position")

    async def _recreated(self, topic: str) -> None:
        raise FeedRecreated(
            f"{topic} was created again: {self._ledger.position_file} names offsets past its "
            "end. The output describes a feed that no longer exists; move the output, rejects "
            "and position files aside and follow again with --from-beginning"
        )

    def _lost(self, partition: int, count: int) -> None:
        self._report(
            f"LOST {count} records of {self._source.topic}/{partition} were deleted by the "
            "hub's retention before this client read them; ask the hub for them"
        )
