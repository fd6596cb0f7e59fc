"""Small fakes of what the gateway loop is given (services/gateway/clients.py), so its
rules run without a broker or a policy engine: a consumer serving ConsumerRecords from an
in-memory log, transactional producers writing to an in-memory broker that can refuse or
fail on demand, a record of decided notices, an engine that can be down, and a child index
that answers contexts (or fails) on demand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from services.gateway.clients import EncodedRecord
from services.gateway.domain.replay import DecidedNotices
from services.gateway.engines import ChildContexts, EngineAnswer, Notice
from services.gateway.errors import (
    ChildContextUnavailable,
    DecisionUnavailable,
    EngineUnavailable,
    PolicyResultInvalid,
)
from services.hubkit.child_context import ChildContext, Observation, empty_context
from services.hubkit.codec import MessageType
from services.hubkit.sharing_decisions import FEED_IDENTITY_FIELDS

__all__ = [
    "FakeBroker",
    "FakeChildContext",
    "FakeConsumer",
    "FakeEngine",
    "FakeSeenLog",
    "Transaction",
    "consumer_record",
]

AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def consumer_record(tp: TopicPartition, offset: int, key: bytes | None, value: bytes) -> Any:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value),
        headers=(),
    )


@dataclass(frozen=True)
class Transaction:
    transactional_id: str
    records: tuple[EncodedRecord, ...]
    offsets: dict[TopicPartition, int]

    def kinds(self, kind: MessageType) -> list[EncodedRecord]:
        return [r for r in self.records if r.kind is kind]


@dataclass
class FakeBroker:
    """What committed, in order; refuses or fails transactions when told to."""

    committed: list[Transaction] = field(default_factory=list)
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    failed: int = 0
    refused_notice_ids: set[str] = field(default_factory=set)
    """Any transaction deciding one of these notices is refused for good (as the broker
    refuses a record too large for its topic)."""
    transient_failures: int = 0
    """The next this many transactions fail with an outcome the gateway cannot know."""
    transaction_s: float = 0.0
    """How long a transaction takes (a broker's round trips)."""
    events: list[str] = field(default_factory=list)
    producers: list[FakeProducer] = field(default_factory=list)

    def new_producer(self, transactional_id: str) -> FakeProducer:
        producer = FakeProducer(self, transactional_id)
        self.producers.append(producer)
        return producer

    def records(self, kind: MessageType) -> list[EncodedRecord]:
        return [r for t in self.committed for r in t.kinds(kind)]

    def decided_ids(self) -> list[str]:
        """The notice ids of committed decisions (their NoticeSeen records), in order."""
        return [r.key.decode() for r in self.records(MessageType.NOTICE_SEEN) if r.key]


class FakeProducer:
    def __init__(self, broker: FakeBroker, transactional_id: str) -> None:
        self.broker = broker
        self.transactional_id = transactional_id
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True
        self.broker.events.append(f"init {self.transactional_id}")

    async def stop(self) -> None:
        self.stopped = True

    async def write_transaction(
        self,
        records: Sequence[EncodedRecord],
        offsets: Mapping[TopicPartition, int],
        group_id: str,
    ) -> None:
        assert self.started
        assert not self.stopped
        await asyncio.sleep(self.broker.transaction_s)
        seen = {r.key.decode() for r in records if r.kind is MessageType.NOTICE_SEEN and r.key}
        if seen & self.broker.refused_notice_ids:
            self.broker.failed += 1
            raise MessageSizeTooLargeError()
        if self.broker.transient_failures > 0:
            self.broker.transient_failures -= 1
            self.broker.failed += 1
            raise KafkaConnectionError()
        transaction = Transaction(self.transactional_id, tuple(records), {**offsets})
        self.broker.committed.append(transaction)
        self.broker.offsets.update(offsets)


class FakeConsumer:
    """Serves each assigned partition's log from its position; the test assigns partitions
    (run at the next poll, as aiokafka runs rebalances inside its poll)."""

    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.logs: dict[TopicPartition, list[Any]] = {}
        self.positions: dict[TopicPartition, int] = {}
        self.paused: set[TopicPartition] = set()
        self.pauses = 0
        self.assignment: list[TopicPartition] = []
        self._rebalance_to: list[TopicPartition] | None = None
        self.listener: Any = None
        self.topics: list[str] = []
        self.stopped = False

    def append(self, tp: TopicPartition, key: bytes | None, value: bytes) -> int:
        log = self.logs.setdefault(tp, [])
        log.append(consumer_record(tp, len(log), key, value))
        return len(log) - 1

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._rebalance_to = list(partitions)

    def subscribe(self, *, topics: list[str], listener: Any) -> None:
        self.topics = topics
        self.listener = listener

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def getmany(
        self, *, timeout_ms: int, max_records: int
    ) -> dict[TopicPartition, list[Any]]:
        if self._rebalance_to is not None:
            assigned, self._rebalance_to = self._rebalance_to, None
            await self.listener.on_partitions_revoked(self.assignment)
            self.assignment = []
            self.paused.clear()
            for tp in assigned:  # aiokafka has read the committed offsets already
                self.positions[tp] = self.broker.offsets.get(tp, 0)
            self.assignment = assigned
            await self.listener.on_partitions_assigned(assigned)
        batches = {}
        for tp in self.assignment:
            if tp in self.paused:
                continue
            position = self.positions.get(tp, 0)
            records = self.logs.get(tp, [])[position : position + max_records]
            if records:
                batches[tp] = records
                self.positions[tp] = records[-1].offset + 1
        if not batches:
            await asyncio.sleep(min(timeout_ms, 5) / 1000)
        return batches

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.positions[partition] = offset

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self.positions[tp] = 0

    async def committed(self, partition: TopicPartition) -> int | None:
        self.broker.events.append(f"committed? {partition.topic}-{partition.partition}")
        return self.broker.offsets.get(partition)

    def pause(self, *partitions: TopicPartition) -> None:
        self.pauses += 1
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.logs.get(tp, [])) for tp in partitions}

    async def position(self, partition: TopicPartition) -> int:
        return self.positions.get(partition, 0)


class FakeSeenLog:
    def __init__(self) -> None:
        self.notices = DecidedNotices()
        self.catch_ups = 0

    async def catch_up(self) -> None:
        self.catch_ups += 1


def _flag_for_mash_manager(subscriber_ids: Sequence[str]) -> dict[str, Any]:
    """Every subscriber denied but the MASH manager, who gets a flag."""
    basis = {
        "article6": "UK GDPR Art 6(1)(e) public task",
        "statutory_gateway": "Children Act 2004 s11",
    }

    def entry(subscriber_id: str) -> dict[str, Any]:
        flag = subscriber_id == "mash-manager"
        return {
            "outcome": "FLAG_ONLY" if flag else "DENY",
            "permitted_fields": list(FEED_IDENTITY_FIELDS) if flag else [],
            "purpose": "SAFEGUARDING_TRIAGE",
            "lawful_basis": basis,
            "isa_clause": None,
            "rule_ids": ["R1"] if flag else ["R15"],
            "explanation": "Decided by the test engine.",
        }

    return {subscriber_id: entry(subscriber_id) for subscriber_id in subscriber_ids}


class FakeEngine:
    """Answers every notice with `decide` (a flag for the MASH manager by default), unless
    down (every query fails) or the notice is one it cannot decide; after `delay_s`."""

    name = "fake"
    max_concurrency = 4

    def __init__(self, subscriber_ids: Sequence[str], *, batch_size: int = 16) -> None:
        self.batch_size = batch_size
        self.down = False
        self.undecidable: set[str] = set()
        self.asked: list[str] = []
        self.contexts: list[ChildContexts | None] = []
        """The contexts each query was given."""
        self.delay_s = 0.0
        self.budgets: list[float | None] = []
        """The budget each query was given (its `timeout_s`), answered or not."""
        self._result: Callable[[], dict[str, Any]] = lambda: _flag_for_mash_manager(subscriber_ids)

    async def evaluate(self, policy_input: dict[str, Any]) -> EngineAnswer:
        raise AssertionError("the gateway asks in batches")

    async def evaluate_many(
        self,
        notices: Sequence[Notice],
        contexts: ChildContexts | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[EngineAnswer | DecisionUnavailable]:
        # Like OPA, it does not give up on its own: the gateway's budget abandons the query.
        self.budgets.append(timeout_s)
        await asyncio.sleep(self.delay_s)
        self.contexts.append(contexts)
        if self.down:
            raise EngineUnavailable("the test engine is down", kind="connection")
        answers: list[EngineAnswer | DecisionUnavailable] = []
        for notice in notices:
            self.asked.append(notice["notice_id"])
            if notice["notice_id"] in self.undecidable:
                answers.append(PolicyResultInvalid("unusable entry", kind="invalid_result"))
            else:
                answers.append(EngineAnswer(self._result(), "1.0.0+sha256.test"))
        return answers

    async def close(self) -> None:
        return None


class FakeChildContext:
    """The child index: records every observation it is sent (once per notice id, as the
    index does) and answers each child's `known` context, else the empty one; or fails
    while `down` (with that kind), or answers after `delay_s`."""

    def __init__(self) -> None:
        self.observed: dict[str, Observation] = {}
        self.requests: list[tuple[list[Observation], list[str]]] = []
        self.known: dict[str, ChildContext] = {}
        self.down: str | None = None
        self.delay_s = 0.0
        self.closed = False

    async def contexts(
        self, observations: Sequence[Observation], children: Sequence[str]
    ) -> dict[str, ChildContext]:
        await asyncio.sleep(self.delay_s)
        self.requests.append((list(observations), list(children)))
        if self.down is not None:
            raise ChildContextUnavailable("the test index is down", kind=self.down)
        for observation in observations:
            self.observed.setdefault(observation["notice_id"], observation)
        return {child: self.known.get(child, empty_context(child)) for child in children}

    async def close(self) -> None:
        self.closed = True
