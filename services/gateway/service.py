"""The gateway's Kafka edge: consume notices, decide, and write audit + feeds + offsets in
one transaction per partition batch.

Each input partition has its own transactional producer with a stable id
(`safehub-gateway-<topic>-<partition>`): aiokafka cannot do KIP-447 fencing, so a restarted
gateway fences its predecessor's zombie through the same id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.intake import accept_notice
from services.gateway.domain.pipeline import (
    OutboundMessage,
    messages_for_decisions,
    messages_for_rejection,
)
from services.gateway.engines import DecisionEngine
from services.gateway.errors import DecisionUnavailable, NoticeRejected
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import make_consumer, make_producer
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    GATEWAY_GROUP,
    GATEWAY_PRINCIPAL,
    GATEWAY_TRANSACTIONAL_PREFIX,
    Topology,
)

__all__ = ["Gateway", "GatewayStats"]

log = logging.getLogger("safehub.gateway")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class GatewayStats:
    notices_decided: int = 0
    notices_rejected: int = 0
    decision_failures: int = 0
    transactions: int = 0
    feed_items: int = 0
    audit_records: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class _ProducerPerPartition(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            await self._gateway._close_producer(tp)

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        return None


class Gateway:
    def __init__(
        self,
        *,
        hub: HubSettings,
        settings: GatewaySettings,
        topology: Topology,
        catalog: SchemaCatalog,
        agency_keys: KeyDirectory,
        hub_key: SigningKey,
        engine: DecisionEngine,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._hub = hub
        self._settings = settings
        self._topology = topology
        self._catalog = catalog
        self._agency_keys = agency_keys
        self._hub_key = hub_key
        self._engine = engine
        self._clock = clock
        self._agency_by_topic = {a.topic: a for a in topology.agencies}
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        self._consumer = make_consumer(hub, GATEWAY_PRINCIPAL, group_id=GATEWAY_GROUP)
        self._stopping = asyncio.Event()
        self.stats = GatewayStats()

    async def run(self) -> None:
        """Consume until stop() is called."""
        self._consumer.subscribe(
            topics=list(self._agency_by_topic), listener=_ProducerPerPartition(self)
        )
        await self._consumer.start()
        try:
            while not self._stopping.is_set():
                batches = await self._consumer.getmany(
                    timeout_ms=self._settings.poll_timeout_ms,
                    max_records=self._settings.max_batch,
                )
                for tp, records in batches.items():
                    if records:
                        await self._process_partition_batch(tp, records)
        finally:
            for tp in list(self._producers):
                await self._close_producer(tp)
            await self._consumer.stop()
            await self._engine.close()

    def stop(self) -> None:
        self._stopping.set()

    async def _producer_for(self, tp: TopicPartition) -> AIOKafkaProducer:
        producer = self._producers.get(tp)
        if producer is None:
            transactional_id = f"{GATEWAY_TRANSACTIONAL_PREFIX}{tp.topic}-{tp.partition}"
            producer = make_producer(
                self._hub, GATEWAY_PRINCIPAL, transactional_id=transactional_id
            )
            await producer.start()
            self._producers[tp] = producer
        return producer

    async def _close_producer(self, tp: TopicPartition) -> None:
        producer = self._producers.pop(tp, None)
        if producer is not None:
            await producer.stop()

    async def _messages_for(self, record: ConsumerRecord) -> list[OutboundMessage]:
        """Raises DecisionUnavailable when the notice must be retried later."""
        agency = self._agency_by_topic[record.topic]
        now = self._clock()
        try:
            accepted = accept_notice(
                catalog=self._catalog, keys=self._agency_keys, agency=agency, value=record.value
            )
        except NoticeRejected as rejection:
            self.stats.notices_rejected += 1
            log.warning(
                "notice rejected",
                extra={"reason": rejection.reason, "topic": record.topic, "offset": record.offset},
            )
            return messages_for_rejection(
                rejection=rejection,
                source_topic=record.topic,
                source_partition=record.partition,
                source_offset=record.offset,
                key=record.key,
                value=record.value,
                rejected_at=now,
            )
        answer = await asyncio.wait_for(
            self._engine.evaluate({"notice": accepted.notice}),
            timeout=self._settings.decision_timeout_s,
        )
        decisions = parse_decisions(
            answer.result, (s.subscriber_id for s in self._topology.subscribers)
        )
        self.stats.notices_decided += 1
        for decision in decisions.values():
            outcome = decision.outcome.value
            self.stats.outcomes[outcome] = self.stats.outcomes.get(outcome, 0) + 1
        return messages_for_decisions(
            accepted=accepted,
            decisions=decisions,
            topology=self._topology,
            policy_revision=answer.policy_revision,
            decided_at=now,
        )

    async def _process_partition_batch(
        self, tp: TopicPartition, records: list[ConsumerRecord]
    ) -> None:
        outbound: list[OutboundMessage] = []
        next_offset: int | None = None
        retry_from: int | None = None
        for record in records:
            try:
                outbound += await self._messages_for(record)
            except (DecisionUnavailable, TimeoutError) as error:
                # Fail closed: stop this partition here, deliver what was decided, retry the rest.
                self.stats.decision_failures += 1
                log.warning(
                    "no decision, will retry",
                    extra={
                        "error": type(error).__name__,
                        "topic": tp.topic,
                        "offset": record.offset,
                    },
                )
                retry_from = record.offset
                break
            next_offset = record.offset + 1
        if next_offset is not None:
            await self._commit(tp, outbound, next_offset)
        if retry_from is not None:
            self._consumer.seek(tp, retry_from)
            await asyncio.sleep(self._settings.retry_backoff_initial_s)

    async def _commit(
        self, tp: TopicPartition, outbound: list[OutboundMessage], next_offset: int
    ) -> None:
        producer = await self._producer_for(tp)
        try:
            async with producer.transaction():
                deliveries = []
                for message in outbound:
                    value = self._catalog.encode(message.message_type, message.record)
                    if message.signed:
                        value = seal(self._catalog, value, self._hub_key, self._clock())
                    deliveries.append(
                        await producer.send(message.topic, value=value, key=message.key)
                    )
                await asyncio.gather(*deliveries)
                await producer.send_offsets_to_transaction({tp: next_offset}, GATEWAY_GROUP)
        except KafkaError as error:
            # Outcome unknown (e.g. a commit timeout): re-create the producer and re-read from
            # the last committed offset. Feed consumers are idempotent on notice id.
            log.error(
                "transaction failed, re-reading partition",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
            await self._close_producer(tp)
            committed = await self._consumer.committed(tp)
            self._consumer.seek(tp, committed if committed is not None else 0)
            return
        self.stats.transactions += 1
        for message in outbound:
            if message.message_type.name == "FEED_ITEM":
                self.stats.feed_items += 1
            elif message.message_type.name == "AUDIT_RECORD":
                self.stats.audit_records += 1
