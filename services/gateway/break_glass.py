"""Emergency access ('break-glass', issue 18): the gateway's component that answers the
BreakGlassRequests of the requesting services (the console for a MASH manager, CP-IS for a
clinician at presentation: `requesting_services` in the IG rules). The rules are in
domain/break_glass.py; this is the Kafka edge, run beside the main loop
(bootstrap.serve_gateway).

* Reads `breakglass.requests.v1` read_committed in its own group (BREAK_GLASS_GROUP).
* Finds the notice in the record of decided notices (`gateway.notices-seen.v1`, read with
  its own SeenLog, caught up before each poll is answered, so a notice decided before the
  request was made is known), re-reads the signed notice at the position recorded there and
  verifies it as intake does.
* Writes the grant (audit record + the desk's feed item, and the owning agency's alert: a
  BREAK_GLASS_ALERT_DELIVERED audit record + a BreakGlassAlert on its alert desk's feed) or
  the refusal (ACCESS_REFUSED + dead letter, and a BreakGlassRefusal on the asking desk's
  feed when the request was trusted) in ONE transaction with the request's offset,
  with a transactional producer per owned partition
  (`safehub-gateway-breakglass.requests.v1-<p>`, under GATEWAY_TRANSACTIONAL_PREFIX),
  started - fencing any previous owner - before the partition's committed offset is read.
* A transaction that fails (or a broker that cannot be read) closes the producer; the
  partition is read again from its committed offset after a backoff, so a request is
  answered exactly once.
* Alerts operators: a WARNING line per grant (ids, the desk, the role and the owning agency
  only), `safehub_gateway_break_glass_total{agency,result}` and
  `safehub_gateway_break_glass_alerts_total{agency}` (owner alerts delivered).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener

from services.gateway.bus_names import BusNames
from services.gateway.clients import (
    TRANSACTION_ERRORS,
    DecidedNoticesLog,
    EncodedRecord,
    NoticeConsumer,
    ProducerFactory,
    TransactionalProducer,
)
from services.gateway.domain.break_glass import (
    BREAK_GLASS_REFUSED,
    AcceptedRequest,
    accept_request,
    alert_messages,
    grant_messages,
    grant_refusal,
    refusal_messages,
)
from services.gateway.domain.intake import AcceptedNotice, accept_notice
from services.gateway.domain.pipeline import OutboundMessage
from services.gateway.domain.replay import DecidedCopy
from services.gateway.domain.retry import backoff_delay
from services.gateway.errors import NoticeRejected
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings
from services.hubkit.break_glass import NO_ALERT_DESK, BreakGlassRules
from services.hubkit.bus import reader_options
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.settings import HubSettings
from services.hubkit.sharing_decisions import LawfulBasis
from services.hubkit.topology import (
    BREAK_GLASS_GROUP,
    BREAK_GLASS_TOPIC,
    AgencyEntry,
    SubscriberEntry,
    Topology,
)

__all__ = ["BreakGlassDesk"]

log = logging.getLogger("safehub.gateway")

_NOTICE_READ_TIMEOUT_S = 30.0
_UNKNOWN_AGENCY = "unknown"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, desk: BreakGlassDesk) -> None:
        self._desk = desk

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._desk._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._desk._on_assigned(list(assigned))


class BreakGlassDesk:
    """Answers emergency access requests until stop() is called."""

    def __init__(
        self,
        *,
        hub: HubSettings,
        settings: GatewaySettings,
        topology: Topology,
        limits: DisclosureLimits,
        rules: BreakGlassRules,
        lawful_basis: LawfulBasis,
        catalog: SchemaCatalog,
        keys: KeyDirectory,
        hub_key: SigningKey,
        seen_log: DecidedNoticesLog,
        consumer: NoticeConsumer,
        producer_factory: ProducerFactory,
        metrics: GatewayMetrics,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self._hub = hub
        self._settings = settings
        self._names = BusNames(settings.namespace)
        self._topology = topology
        self._limits = limits
        self._rules = rules
        self._lawful_basis = lawful_basis
        self._catalog = catalog
        self._keys = keys
        self._hub_key = hub_key
        self._seen_log = seen_log
        self._consumer = consumer
        self._new_producer = producer_factory
        self.metrics = metrics
        self._clock = clock
        self._group = self._names.topic(BREAK_GLASS_GROUP)
        self._topic = self._names.topic(BREAK_GLASS_TOPIC)
        self._agencies: dict[str, AgencyEntry] = {
            self._names.topic(a.topic): a for a in topology.agencies
        }
        self._subscribers: dict[str, SubscriberEntry] = {
            s.subscriber_id: s for s in topology.subscribers
        }
        self._producers: dict[TopicPartition, TransactionalProducer] = {}
        self._unowned: set[TopicPartition] = set()
        """Assigned, but not yet fenced and positioned (the broker was away): nothing of them
        is answered until they are."""
        self._next: dict[TopicPartition, int] = {}
        """The offset each owned partition is read from next: a record fetched before a seek
        back (after a failure) is not answered out of turn."""
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._failures = 0
        self.granted = 0
        self.refused = 0
        self.alerts = 0
        """Owning agencies' alert desks told of a grant (one per grant)."""

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        self._consumer.subscribe(topics=[self._topic], listener=_Rebalance(self))
        await self._consumer.start()
        log.info("break-glass desk started", extra={"topic": self._topic})
        try:
            while not self._stopping.is_set():
                if self._unowned:
                    await self._own_waiting()
                batches = await self._consumer.getmany(timeout_ms=500, max_records=100)
                async with self._lock:
                    for tp, records in batches.items():
                        if tp in self._producers and records:
                            await self._answer_batch(tp, records)
        finally:
            async with self._lock:
                await self._close_producers(list(self._producers))
            await self._consumer.stop()

    # --- partitions -----------------------------------------------------------------------

    async def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        async with self._lock:
            self._unowned |= set(assigned)
        await self._own_waiting(backoff=False)

    async def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            self._unowned -= set(revoked)
            await self._close_producers(revoked)

    async def _own_waiting(self, *, backoff: bool = True) -> None:
        async with self._lock:
            for tp in sorted(self._unowned):
                try:
                    await self._own(tp)
                except (*TRANSACTION_ERRORS, TimeoutError, OSError) as error:
                    await self._close_producers([tp])
                    await self._failed(tp, error, backoff=backoff)
                else:
                    self._unowned.discard(tp)

    async def _own(self, tp: TopicPartition) -> None:
        """Fence the previous owner (InitProducerId), then read from the committed offset."""
        producer = self._new_producer(self._names.transactional_id(tp))
        await producer.start()
        self._producers[tp] = producer
        committed = await self._consumer.committed(tp)
        if committed is None:
            await self._consumer.seek_to_beginning(tp)
            self._next[tp] = 0
        else:
            self._consumer.seek(tp, committed)
            self._next[tp] = committed

    async def _close_producers(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            producer = self._producers.pop(tp, None)
            self._next.pop(tp, None)
            if producer is not None:
                try:
                    await producer.stop()
                except Exception as error:  # closing is best effort; a new owner fences it
                    log.warning(
                        "break-glass producer did not close cleanly",
                        extra={"error": type(error).__name__},
                    )

    # --- answering ------------------------------------------------------------------------

    async def _answer_batch(self, tp: TopicPartition, records: list[ConsumerRecord]) -> None:
        try:
            # Every decision committed before these requests were read is known after this.
            await self._seen_log.catch_up()
            for record in records:
                if record.offset < self._next.get(tp, 0):
                    continue  # fetched before the partition was read again from its offset
                await self._answer(tp, record)
                self._next[tp] = record.offset + 1
        except (*TRANSACTION_ERRORS, TimeoutError, OSError) as error:
            # The outcome of the transaction may be unknown: a new producer settles it, and
            # the partition is read again from what the broker says was committed.
            await self._close_producers([tp])
            self._unowned.add(tp)
            await self._failed(tp, error)
        else:
            self._failures = 0

    async def _failed(
        self, tp: TopicPartition, error: BaseException, *, backoff: bool = True
    ) -> None:
        self._failures += 1
        delay = backoff_delay(
            attempt=self._failures,
            initial_s=self._settings.retry_backoff_initial_s,
            max_s=self._settings.retry_backoff_max_s,
        )
        log.error(
            "break-glass requests not answered; retrying from the committed offset",
            extra={
                "topic": tp.topic,
                "partition": tp.partition,
                "error": type(error).__name__,
                "delay_s": delay,
            },
        )
        if backoff:
            await asyncio.sleep(delay)

    async def _answer(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        now = self._clock()
        agency = _UNKNOWN_AGENCY
        accepted: AcceptedRequest | None = None
        try:
            accepted = accept_request(
                catalog=self._catalog,
                keys=self._keys,
                rules=self._rules,
                key=record.key,
                value=record.value,
            )
        except NoticeRejected as rejected:
            messages = self._refusal(record, None, rejected.detail, now, rejected.reason)
            granted = False
        else:
            copy = self._seen_log.notices.committed(accepted.notice_id)
            notice = None if copy is None else await self._read_notice(copy)
            if notice is not None:
                agency = str(notice.notice["source"]["agency"])
            words = grant_refusal(
                rules=self._rules,
                accepted=accepted,
                notice=None if notice is None else notice.notice,
                disclosed_to=() if copy is None else copy.disclosed_to or (),
            )
            subscriber = self._subscribers.get(accepted.subscriber_id)
            if words is None and subscriber is None:
                words = "your desk is not one the hub shares with"
            alert_desk = self._subscribers.get(self._rules.alert_desk(agency) or "")
            if words is None and alert_desk is None:
                words = NO_ALERT_DESK  # the rules were checked against the topology at start
            if words is not None or notice is None or subscriber is None or alert_desk is None:
                messages = self._refusal(record, accepted, words or "", now)
                granted = False
            else:
                agency_name = self._topology.agency(agency).name
                messages = grant_messages(
                    rules=self._rules,
                    lawful_basis=self._lawful_basis,
                    accepted=accepted,
                    notice=notice,
                    subscriber=subscriber,
                    agency_name=agency_name,
                    relay_contact=self._settings.relay_contact,
                    safeguarding_contacts=self._limits.safeguarding_contacts,
                    silent=self._limits.silent_paths,
                    granted_at=now,
                ) + alert_messages(
                    rules=self._rules,
                    accepted=accepted,
                    notice=notice,
                    alert_desk=alert_desk,
                    agency_name=agency_name,
                    granted_at=now,
                )
                granted = True
        producer = self._producers[tp]
        await producer.write_transaction(
            self._encode(messages, now), {tp: record.offset + 1}, self._group
        )
        result = "granted" if granted else "refused"
        self.metrics.break_glass.labels(agency=agency, result=result).inc()
        ids: dict[str, Any] = {"topic": tp.topic, "partition": tp.partition}
        ids["offset"] = record.offset
        if accepted is not None:
            ids |= {
                "request_id": accepted.request_id,
                "notice_id": accepted.notice_id,
                "subscriber_id": accepted.subscriber_id,
                "role": str(accepted.request["requester_role"]),
            }
        if granted:
            self.granted += 1
            self.alerts += 1
            self.metrics.break_glass_alerts.labels(agency=agency).inc()
            log.warning("emergency access granted", extra={**ids, "agency": agency})
        else:
            self.refused += 1
            (letter,) = (m for m in messages if m.message_type is MessageType.DEAD_LETTER)
            self.metrics.dead_letters.labels(reason=letter.record["reason"]).inc()
            log.warning("emergency access refused", extra={**ids, "agency": agency})

    def _refusal(
        self,
        record: ConsumerRecord,
        accepted: AcceptedRequest | None,
        words: str,
        now: dt.datetime,
        dead_letter_reason: str = BREAK_GLASS_REFUSED,
    ) -> list[OutboundMessage]:
        return refusal_messages(
            words=words,
            accepted=accepted,
            subscriber=None if accepted is None else self._subscribers.get(accepted.subscriber_id),
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            key=record.key,
            value=record.value,
            refused_at=now,
            dead_letter_reason=dead_letter_reason,
        )

    async def _read_notice(self, copy: DecidedCopy) -> AcceptedNotice | None:
        """The signed notice at the position the record of decided notices gives, verified
        as intake verifies it; None when it is no longer there (retention) or does not
        verify. Raises TimeoutError/KafkaError when the broker cannot be read (retried)."""
        agency = self._agencies.get(copy.source_topic)
        if agency is None:
            return None
        tp = TopicPartition(copy.source_topic, copy.source_partition)
        consumer = AIOKafkaConsumer(
            **reader_options(
                self._hub, self._settings.kafka_principal, client_id="safehub-gateway-break-glass"
            )
        )
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, copy.source_offset)
            async with asyncio.timeout(_NOTICE_READ_TIMEOUT_S):
                record = await consumer.getone(tp)
        finally:
            await consumer.stop()
        # Below the log start (retention) the reader resets to the earliest record: not ours.
        if record.offset != copy.source_offset or record.value is None:
            return None
        try:
            return accept_notice(
                catalog=self._catalog,
                keys=self._keys,
                agency=agency,
                key=record.key,
                value=record.value,
            )
        except NoticeRejected:
            return None

    def _encode(self, messages: list[OutboundMessage], now: dt.datetime) -> list[EncodedRecord]:
        encoded = []
        for message in messages:
            value = self._catalog.encode(message.message_type, message.record)
            if message.signed:
                value = seal(self._catalog, value, self._hub_key, now)
            topic = self._names.topic(message.topic)
            encoded.append(EncodedRecord(topic, message.key, value, message.message_type))
        return encoded
