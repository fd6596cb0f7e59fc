"""The Kafka clients the gateway loop uses, as the loop sees them, and the real producer.

The loop (service.py) is given a consumer and a producer factory; bootstrap.py builds the real
ones (aiokafka), unit tests pass small fakes (tests/gateway/unit/test_loop.py). A producer
here is one input partition's transactional producer: `start()` initialises it
(InitProducerId, which fences a previous holder of its transactional id and settles that
holder's open transaction) and `write_transaction()` writes records and consumed offsets in
one transaction, raising when its outcome is not a commit.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import (
    CorruptRecordException,
    IllegalOperation,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from aiokafka.partitioner import DefaultPartitioner, murmur2

from services.gateway.domain.replay import DecidedNotices
from services.hubkit.codec import MessageType

__all__ = [
    "PERMANENT_ERRORS",
    "RECORD_BATCH_BYTES",
    "TRANSACTION_ERRORS",
    "DecidedNoticesLog",
    "EncodedRecord",
    "KafkaTransactionalProducer",
    "NoticeConsumer",
    "ProducerFactory",
    "TransactionalProducer",
    "keyed_partitioner",
]

# A transaction writes ~10 records of 1-2 KB per notice, most to the one audit partition. At
# aiokafka's default of 16 KB per record batch that was a hundred batches per transaction,
# sent one after another per partition; half a megabyte stays well below the broker's
# default limit on a batch (message.max.bytes, 1 MB).
RECORD_BATCH_BYTES = 512 * 1024
# A transaction failing with any of these has an outcome we cannot know from here (aiokafka
# raises IllegalOperation, not a KafkaError, when a producer fenced mid-batch sends again).
TRANSACTION_ERRORS = (KafkaError, IllegalOperation)
# A transaction failing with one of these will fail the same way however often it is tried:
# the broker refuses a record of it for what it is (too large for the topic, or invalid).
# The notice behind it is found by writing the batch one notice per transaction, and is
# dead-lettered as BROKER_REFUSED; everything else is an outcome we retry (issue 13).
PERMANENT_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordException)


@dataclass(frozen=True, slots=True)
class EncodedRecord:
    """One output record, encoded (and sealed where it must be), ready for a transaction."""

    topic: str
    key: bytes | None
    value: bytes
    kind: MessageType


class NoticeConsumer(Protocol):
    """What the loop asks of its consumer (aiokafka's AIOKafkaConsumer: read_committed, group
    membership, offsets committed only inside the gateway's transactions)."""

    def subscribe(self, *, topics: list[str], listener: ConsumerRebalanceListener) -> None: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[ConsumerRecord]]: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...

    async def committed(self, partition: TopicPartition) -> int | None: ...

    def pause(self, *partitions: TopicPartition) -> None: ...

    def resume(self, *partitions: TopicPartition) -> None: ...

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...

    async def position(self, partition: TopicPartition) -> int: ...


class TransactionalProducer(Protocol):
    """One input partition's transactional producer (idempotent, acks=all, stable id)."""

    async def start(self) -> None:
        """InitProducerId: fences a previous holder of the id and settles its transaction."""

    async def stop(self) -> None: ...

    async def write_transaction(
        self,
        records: Sequence[EncodedRecord],
        offsets: Mapping[TopicPartition, int],
        group_id: str,
    ) -> None:
        """Write `records` and the consumed `offsets` in one transaction; raise (one of
        TRANSACTION_ERRORS) when it did not commit or its outcome is unknown."""


ProducerFactory = Callable[[str], TransactionalProducer]
"""A new, not yet started, producer with the given transactional id."""


class DecidedNoticesLog(Protocol):
    """The record of decided notices (seen_log.SeenLog reads `gateway.notices-seen.v1`)."""

    @property
    def notices(self) -> DecidedNotices: ...

    async def catch_up(self) -> None:
        """Return once every decided notice committed before the call has been read."""


class KafkaTransactionalProducer:
    """A TransactionalProducer over aiokafka, writing a transaction's records in batches."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.kafka_producer = AIOKafkaProducer(
            **options, partitioner=keyed_partitioner, max_batch_size=RECORD_BATCH_BYTES
        )

    async def start(self) -> None:
        await self.kafka_producer.start()

    async def stop(self) -> None:
        await self.kafka_producer.stop()

    async def write_transaction(
        self,
        records: Sequence[EncodedRecord],
        offsets: Mapping[TopicPartition, int],
        group_id: str,
    ) -> None:
        producer = self.kafka_producer
        async with producer.transaction():
            await asyncio.gather(*await _send_batched(producer, records))
            await producer.send_offsets_to_transaction(dict(offsets), group_id)


@functools.lru_cache(maxsize=4096)
def _murmur2_positive(key: bytes) -> int:
    # Memoised by key alone: a notice's ~10 records share its linkage key across topics of
    # different partition counts, and murmur2 is pure Python.
    return int(murmur2(key) & 0x7FFFFFFF)


def keyed_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default (Java-compatible murmur2) placement, memoised."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_murmur2_positive(key) % len(all_partitions)]


async def _send_batched(
    producer: AIOKafkaProducer, records: Sequence[EncodedRecord]
) -> list[asyncio.Future[Any]]:
    """Queue a transaction's records as one record batch per output partition (split where a
    batch fills up), placed exactly as the producer's partitioner would place them.

    send() per record, each with its own delivery future, was most of the CPU a transaction
    cost. A batch goes through the same accumulator, so it is added to the transaction
    (AddPartitionsToTxn) and given the producer's id, epoch and sequence like any other. A
    record without a key takes send(), for the partitioner's choice among the partitions
    available now.
    """
    numbered: dict[str, list[int]] = {}
    batches: dict[TopicPartition, Any] = {}
    deliveries: list[asyncio.Future[Any]] = []
    keyless: list[EncodedRecord] = []

    async def queue(tp: TopicPartition, batch: Any) -> None:
        batch.close()
        delivery = await producer.send_batch(batch, tp.topic, partition=tp.partition)
        delivery.add_done_callback(_observe)
        deliveries.append(delivery)

    for record in records:
        if record.key is None:
            keyless.append(record)
            continue
        partitions = numbered.get(record.topic)
        if partitions is None:
            partitions = numbered[record.topic] = sorted(
                await producer.partitions_for(record.topic)
            )
        tp = TopicPartition(record.topic, keyed_partitioner(record.key, partitions, partitions))
        batch = batches.get(tp)
        if batch is None:
            batch = batches[tp] = producer.create_batch()
        if batch.append(key=record.key, value=record.value, timestamp=None) is None:
            await queue(tp, batch)  # full: the next batch of this partition queues behind it
            batch = batches[tp] = producer.create_batch()
            batch.append(key=record.key, value=record.value, timestamp=None)
    for tp, batch in batches.items():
        await queue(tp, batch)
    for record in keyless:
        delivery = await producer.send(record.topic, value=record.value, key=None)
        delivery.add_done_callback(_observe)
        deliveries.append(delivery)
    return deliveries


def _observe(delivery: asyncio.Future[Any]) -> None:
    """Mark a delivery's failure as seen: the transaction's own error is what we act on."""
    if not delivery.cancelled():
        delivery.exception()
