"""Following one topic from its start, shared by the services that read a feed or a log.

The console (its feed projections and the child index's linkage changes) and CP-IS (its
register) follow a topic in the same way, and a service must not import another service, so
the mechanism lives here once: connected as the given principal (a feed's own, for a feed)
with hubkit.bus.reader_options,
read_committed (nothing is visible before its audit record commits), every partition of
the feed assigned to this process and no consumer group. It runs until stop(), and after
a broker error (or one of the caller's own retryable errors) it reconnects after a
back-off. `caught_up` is set once every partition has reached the end offsets captured at
start, i.e. once everything the gateway had committed before start-up has been applied.

What a record means, where each partition starts, how a batch is applied and what is
logged stay with the service, passed in as small hooks.

Resuming from stored offsets is checked against the partition as it is now
(`resume_plan`): an offset past the partition's end means the topic was deleted and created
again (its offsets restarted at zero), so what the service kept reflects a log that no longer
exists: it is told (`on_topic_recreated`, e.g. to forget its projection) and every partition
is read again from the beginning. An offset before the partition's beginning means records
were deleted by retention before the service read them: it resumes at the beginning and is
told how many it can never read (`on_records_lost`). A recreated topic that has already grown
past the stored offsets cannot be told apart by offsets alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from services.hubkit.bus import reader_options
from services.hubkit.settings import HubSettings

__all__ = ["FeedFollower", "FollowerStats", "ResumePlan", "resume_plan"]


@dataclass
class FollowerStats:
    """Outcomes of the records a follower has read, counted by the service that applies
    them."""

    applied: int = 0
    unchanged: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class ResumePlan:
    starts: Mapping[int, int]
    """Where each partition starts; a partition not named starts at the beginning."""
    recreated: bool
    """A stored offset is past its partition's end: the topic was created again."""
    lost: Mapping[int, int]
    """Per partition, how many records retention deleted before they were read."""


def resume_plan(
    stored: Mapping[int, int], beginnings: Mapping[int, int], ends: Mapping[int, int]
) -> ResumePlan:
    """Where to resume each partition, given the offsets a service stored and the partitions'
    current first and end offsets (pure)."""
    if any(offset > ends.get(partition, 0) for partition, offset in stored.items()):
        return ResumePlan(starts={}, recreated=True, lost={})
    lost = {
        partition: beginnings[partition] - offset
        for partition, offset in stored.items()
        if offset < beginnings.get(partition, 0)
    }
    starts = {p: o for p, o in stored.items() if p not in lost}
    return ResumePlan(starts=starts, recreated=False, lost=lost)


class FeedFollower:
    """Follows `topic`, as `principal`, until stop().

    Hooks:
        start_offsets   the offset to start each partition at, by partition number, given
                        the topic; a partition not named starts at the beginning. None: every
                        partition starts at the beginning.
        apply_batch     applies one partition's batch of records, in offset order.
        on_caught_up    called once, when `caught_up` is first set.
        on_interrupted  called with the error before each back-off and reconnect.
        on_topic_recreated  awaited when stored offsets are past the partitions' ends (the
                        topic was created again), before reading it from the beginning.
        on_records_lost called with (partition, count) when retention deleted records
                        before they were read.
    The follower retries on KafkaError, OSError and `retry_on`; anything else ends run().
    """

    def __init__(
        self,
        *,
        hub: HubSettings,
        topic: str,
        principal: str,
        partitions: int,
        client_id: str,
        apply_batch: Callable[[list[ConsumerRecord]], Awaitable[None]],
        max_records: int,
        start_offsets: Callable[[str], Awaitable[Mapping[int, int]]] | None = None,
        on_caught_up: Callable[[], None] = lambda: None,
        on_interrupted: Callable[[Exception], None] = lambda error: None,
        on_topic_recreated: Callable[[str], Awaitable[None]] | None = None,
        on_records_lost: Callable[[int, int], None] = lambda partition, count: None,
        retry_on: tuple[type[Exception], ...] = (),
        retry_s: float = 2.0,
    ) -> None:
        self._hub = hub
        self._topic = topic
        self._principal = principal
        self._partitions = partitions
        self._client_id = client_id
        self._apply_batch = apply_batch
        self._max_records = max_records
        self._start_offsets = start_offsets
        self._on_caught_up = on_caught_up
        self._on_interrupted = on_interrupted
        self._on_topic_recreated = on_topic_recreated
        self._on_records_lost = on_records_lost
        self._retry_on = (KafkaError, OSError, *retry_on)
        self._retry_s = retry_s
        self.caught_up = asyncio.Event()
        """Set once everything committed to the feed before start-up has been applied."""
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the feed until stop(); reconnects after broker (and retry_on) errors."""
        while not self._stopping.is_set():
            try:
                await self._follow()
            except self._retry_on as error:
                self._on_interrupted(error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._retry_s)

    async def _follow(self) -> None:
        consumer = AIOKafkaConsumer(
            **reader_options(self._hub, self._principal, client_id=self._client_id)
        )
        try:
            # Inside the try: a consumer that failed to connect is closed too, not leaked.
            await consumer.start()
            topic = self._topic
            partitions = [TopicPartition(topic, p) for p in range(self._partitions)]
            consumer.assign(partitions)
            await self._seek(consumer, topic, partitions)
            # In read_committed mode these are the last stable offsets: the end of what the
            # gateway had committed when we started.
            ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
            await self._check_caught_up(consumer, ends)
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=250, max_records=self._max_records)
                for records in batches.values():
                    await self._apply_batch(records)
                if not self.caught_up.is_set():
                    await self._check_caught_up(consumer, ends)
        finally:
            await consumer.stop()

    async def _seek(
        self, consumer: AIOKafkaConsumer, topic: str, partitions: list[TopicPartition]
    ) -> None:
        if self._start_offsets is None:
            await consumer.seek_to_beginning(*partitions)
            return
        starts = await self._start_offsets(topic)
        if starts:
            beginnings = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
            plan = resume_plan(
                starts,
                {tp.partition: o for tp, o in beginnings.items()},
                {tp.partition: o for tp, o in ends.items()},
            )
            if plan.recreated and self._on_topic_recreated is not None:
                await self._on_topic_recreated(topic)
            for partition, count in plan.lost.items():
                self._on_records_lost(partition, count)
            starts = plan.starts
        for tp in partitions:
            if tp.partition in starts:
                consumer.seek(tp, starts[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)

    async def _check_caught_up(
        self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]
    ) -> None:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return
        if not self.caught_up.is_set():
            self._on_caught_up()
        self.caught_up.set()
