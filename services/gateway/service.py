"""The gateway's consume loop: read notices, have them decided (deciding.py), and write
audit + feeds + offsets in one transaction per input partition, committed in small batches.

The loop is given its Kafka clients (a consumer and a producer factory, clients.py; the real
ones are built in bootstrap.py) and keeps what it knows of each input partition in one
PartitionState (partitions.py), so its rules run against fakes in unit tests
(tests/gateway/unit/test_loop.py).

Guarantees and how this module keeps them:

* Exactly once, audit first. Each input partition has its own transactional producer with a
  stable id (`safehub-gateway-<topic>-<partition>`). The audit records, the feed items and
  the consumed offset of a batch go into one transaction: read_committed readers see all of
  it or none of it.
* Fencing before reading (aiokafka cannot do KIP-447). When a partition is assigned, its
  producer is initialised first - InitProducerId fences a previous owner still holding the
  id and settles its open transaction - and only then is the committed offset read and
  consumption started from it. After any seek, records fetched earlier from below the new
  position are dropped, so no offset is ever handled twice by one owner.
* Indefinite errors. A transaction whose outcome is unknown (timeout, fenced, broker gone)
  closes that producer; a new one is initialised (settling the unknown outcome) before the
  partition re-reads from the offset the broker says is committed, after a backoff.
* Small batches. Decided notices of a partition are held until `max_batch` of them are
  waiting or `commit_interval_ms` has passed since the first, then committed together:
  while the next poll's notices are being decided, so the policy engine and the broker work
  at once. A partition whose transaction fails then drops what was decided for it meanwhile
  and reads it again from its committed offset.
* Rebalance. Before partitions are given away their waiting notices are committed and their
  producers closed, under the same lock that covers processing, so no transaction of a
  revoked partition is ever in flight.
* Fail closed, never drop. A notice without a usable decision stops its partition at that
  offset: what was decided before it is committed, the partition is paused and re-read from
  the notice after an exponential backoff, until the engine answers. Nothing is delivered
  for it meanwhile. Notices that can never be processed are dead-lettered and audited. A
  notice is never decided without its child's context from the child index: without it,
  the poll's partitions retry the same way.
* Permanent or transient, never stuck. A notice whose records could never be written (one
  larger than `max_record_bytes`, or one the broker refuses for what it is) is dead-lettered
  as RECORD_TOO_LARGE or BROKER_REFUSED and its partition moves on. Every other failure is
  retried; a partition retrying without progress for `stall_alert_after_s` raises the stall
  alert (ERROR log + metric), so no partition stalls silently.
* Replays refused, persistently. A notice id decided once is never decided again (domain/
  replay.py): each decision's transaction also writes a NoticeSeen record to the compacted
  `gateway.notices-seen.v1`, and a partition is decided on only after that topic has been
  read back, after fencing its previous owner. A copy of a decided notice is dead-lettered
  as DUPLICATE_NOTICE (or CONFLICTING_NOTICE if its content differs), across restarts and
  replicas; intake keeps every copy on one partition (RECORD_KEY_MISMATCH otherwise).
* Ceilings, outside the policy. A decision that permits more than its recipient's IG
  ceiling delivers nothing and is audited as such (domain/ceiling.py); once its transaction
  commits it is counted and logged here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from services.gateway.bus_names import BusNames
from services.gateway.child_context_client import ChildContextSource
from services.gateway.clients import (
    PERMANENT_ERRORS,
    TRANSACTION_ERRORS,
    DecidedNoticesLog,
    NoticeConsumer,
    ProducerFactory,
    TransactionalProducer,
)
from services.gateway.deciding import NoticeDecider, NoticeResult, Outcome
from services.gateway.domain.ceiling import CEILING_EXCEEDED, CeilingBreach
from services.gateway.domain.retry import backoff_delay
from services.gateway.engines import DecisionEngine
from services.gateway.metrics import GatewayMetrics
from services.gateway.partitions import PartitionState, PendingBatch
from services.gateway.settings import GatewaySettings
from services.gateway.stats import GatewayStats
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey
from services.hubkit.topology import Topology

__all__ = ["BusNames", "Gateway", "GatewayHealth", "GatewayStats"]

log = logging.getLogger("safehub.gateway")

_PRODUCER_STOP_TIMEOUT_S = 10.0


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class GatewayHealth:
    alive: bool
    ready: bool
    assigned_partitions: int
    engine_ok: bool
    waiting_partitions: int
    stalled_partitions: int = 0
    """Partitions retrying without progress for longer than `stall_alert_after_s`."""

    def as_json(self) -> dict[str, Any]:
        return {
            "alive": self.alive,
            "ready": self.ready,
            "assigned_partitions": self.assigned_partitions,
            "engine_ok": self.engine_ok,
            "partitions_waiting_to_retry": self.waiting_partitions,
            "partitions_stalled": self.stalled_partitions,
        }


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._gateway._on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._gateway._on_assigned(list(assigned))


class Gateway:
    def __init__(
        self,
        *,
        settings: GatewaySettings,
        topology: Topology,
        limits: DisclosureLimits,
        catalog: SchemaCatalog,
        agency_keys: KeyDirectory,
        hub_key: SigningKey,
        engine: DecisionEngine,
        child_context: ChildContextSource,
        seen_log: DecidedNoticesLog,
        consumer: NoticeConsumer,
        producer_factory: ProducerFactory,
        clock: Callable[[], dt.datetime] = _utc_now,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._child_context = child_context
        self._names = BusNames(settings.namespace)
        self._consumer = consumer
        self._new_producer = producer_factory
        self._partitions: dict[TopicPartition, PartitionState] = {}
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._running = False
        self._last_turn = time.monotonic()
        self._engine_ok = True
        self._next_lag_at = 0.0
        self.stats = GatewayStats()
        self.metrics = metrics or GatewayMetrics()
        self._seen_log = seen_log
        self._decided = seen_log.notices
        """Notices decided (read back from the seen log) or claimed on an owned partition."""
        self._decider = NoticeDecider(
            settings=settings,
            topology=topology,
            limits=limits,
            catalog=catalog,
            agency_keys=agency_keys,
            hub_key=hub_key,
            engine=engine,
            child_context=child_context,
            decided=self._decided,
            clock=clock,
            metrics=self.metrics,
            stats=self.stats,
            on_engine_health=self._engine_health,
        )

    # --- public -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until stop() is called; then commit what was decided and close down."""
        topics = self._decider.input_topics
        self._consumer.subscribe(topics=topics, listener=_Rebalance(self))
        await self._consumer.start()
        self._running = True
        log.info("gateway started", extra={"engine": self._engine.name, "topic": sorted(topics)})
        try:
            while not self._stopping.is_set():
                self._last_turn = time.monotonic()
                async with self._lock:
                    await self._resume_due()
                batches = await self._consumer.getmany(
                    timeout_ms=self._poll_timeout_ms(), max_records=self._settings.max_batch
                )
                async with self._lock:
                    # With new notices, what is due commits while they are decided (_handle);
                    # without, it commits now.
                    if not (batches and await self._handle(batches)):
                        await self._commit_due(force=False)
                await self._measure_lag()
            async with self._lock:
                await self._commit_due(force=True)
        finally:
            self._running = False
            for tp in [tp for tp, state in self._partitions.items() if state.producer]:
                await self._close_producer(tp)
            await self._consumer.stop()
            await self._engine.close()
            await self._child_context.close()
            self._update_ready()
            log.info("gateway stopped", extra={"engine": self._engine.name})

    def stop(self) -> None:
        self._stopping.set()

    def health(self) -> GatewayHealth:
        alive = self._running and (
            time.monotonic() - self._last_turn < self._settings.stall_after_s
        )
        ready = alive and bool(self._assigned) and self._engine_ok
        states = self._partitions.values()
        return GatewayHealth(
            alive=alive,
            ready=ready,
            assigned_partitions=len(self._assigned),
            engine_ok=self._engine_ok,
            waiting_partitions=sum(1 for s in states if s.resume_at is not None),
            stalled_partitions=sum(1 for s in states if s.stall_alerted),
        )

    # --- consume loop -------------------------------------------------------------------------

    def _state(self, tp: TopicPartition) -> PartitionState:
        state = self._partitions.get(tp)
        if state is None:
            state = self._partitions[tp] = PartitionState()
        return state

    def _poll_timeout_ms(self) -> int:
        """Wake up in time for the next due commit or retry."""
        timeout_s = self._settings.poll_timeout_ms / 1000
        now = time.monotonic()
        interval = self._settings.commit_interval_ms / 1000
        for state in self._partitions.values():
            if state.pending is not None:
                if len(state.pending.outcomes) >= self._settings.max_batch:
                    return 0
                timeout_s = min(timeout_s, state.pending.since + interval - now)
            if state.resume_at is not None:
                timeout_s = min(timeout_s, state.resume_at - now)
        return max(0, int(timeout_s * 1000))

    async def _resume_due(self) -> None:
        now = time.monotonic()
        due = [
            (tp, state)
            for tp, state in self._partitions.items()
            if state.resume_at is not None and state.resume_at <= now
        ]
        for tp, state in due:
            state.resume_at = None
            if tp not in self._assigned:
                continue
            if state.needs_reset and not await self._prepare(tp):
                self._retry_later(tp, kind="partition_setup")
                continue
            self._consumer.resume(tp)
        self._update_retry_gauge()

    async def _handle(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> bool:
        """Decide and queue the poll's fresh notices; meanwhile commit the batches that are
        due. False when nothing in the poll was fresh (and nothing was committed)."""
        work: list[tuple[TopicPartition, list[ConsumerRecord]]] = []
        for tp, records in batches.items():
            if not records or tp not in self._assigned:
                continue  # not ours (yet): it is read from the committed offset once prepared
            state = self._partitions.get(tp)
            if state is None or state.expected is None or state.resume_at is not None:
                # Waiting to retry (aiokafka should not even return these): read them again.
                if state is not None and state.expected is not None and not state.needs_reset:
                    self._consumer.seek(tp, state.expected)
                continue
            # Records fetched before our last seek (a retry, a reset after a failed or fenced
            # transaction, a new assignment) may still arrive: an offset below the one we
            # expect was already handled, and handling it again would deliver it twice.
            fresh = [r for r in records if r.offset >= state.expected]
            if not fresh:
                continue
            state.expected = fresh[-1].offset + 1
            self.metrics.notices_in.labels(tp.topic).inc(len(fresh))
            work.append((tp, fresh))
        if not work:
            return False
        # Decided together, in as few queries as the engine takes, while the batches already
        # due commit (the policy engine and the broker work at once); then each partition's
        # outcomes are queued in offset order, behind the batch that just committed.
        refused = {
            tp: state.refused for tp, state in self._partitions.items() if state.refused is not None
        }
        due = self._due(force=False)
        if due:
            outcomes, committed = await asyncio.gather(
                self._decider.decide_poll(work, refused),
                asyncio.gather(*(self._flush(tp) for tp in due)),
            )
            failed = {tp for tp, ok in zip(due, committed, strict=True) if not ok}
        else:
            outcomes, failed = await self._decider.decide_poll(work, refused), set()
        for tp, records in work:
            if tp in failed:
                # Its transaction failed while these were decided: the partition was reset to
                # its committed offset (before them) and will read them again. Nothing of
                # theirs is queued, and their claims go, or the re-read would be refused as a
                # replay of itself.
                self._decided.rewind((tp.topic, tp.partition), records[0].offset)
                continue
            await self._apply(tp, records, outcomes[tp])
        return True

    async def _apply(
        self,
        tp: TopicPartition,
        records: list[ConsumerRecord],
        outcomes: Iterable[NoticeResult],
    ) -> None:
        """Queue the partition's decided notices in offset order, up to the first it could
        not decide; from there the partition is re-read after a backoff."""
        state = self._state(tp)
        for record, outcome in zip(records, outcomes, strict=True):
            if not isinstance(outcome, Outcome):
                # Commit what was decided before this notice, then re-read from it later. (If
                # that commit fails, _flush has already reset and paused the partition.)
                if await self._flush(tp):
                    self._seek(tp, record.offset)
                    self._retry_later(tp, kind=outcome.kind, offset=record.offset)
                return
            pending = state.pending
            if pending is None:
                pending = state.pending = PendingBatch([], record.offset + 1, time.monotonic())
            pending.outcomes.append(outcome)
            pending.next_offset = record.offset + 1
            # A full batch commits with the next poll's decisions (or at once if none come:
            # the poll does not wait); while hunting a refused record, each notice alone, now.
            one_by_one = (
                state.one_by_one_until is not None and record.offset < state.one_by_one_until
            )
            if one_by_one and not await self._flush(tp):
                return  # reset to the committed offset and paused: nothing more queues now
        state.attempts = 0

    def _retry_later(self, tp: TopicPartition, *, kind: str, offset: int | None = None) -> None:
        state = self._state(tp)
        state.attempts += 1
        attempt = state.attempts
        delay = backoff_delay(
            attempt=attempt,
            initial_s=self._settings.retry_backoff_initial_s,
            max_s=self._settings.retry_backoff_max_s,
        )
        now = time.monotonic()
        state.resume_at = now + delay
        self._consumer.pause(tp)
        self.metrics.retries.inc()
        if state.stalled_since is None:
            state.stalled_since = now
        stalled_s = now - state.stalled_since
        if stalled_s >= self._settings.stall_alert_after_s and not state.stall_alerted:
            state.stall_alerted = True
            self.stats.stall_alerts += 1
            self.metrics.stall_alerts.labels(tp.topic, str(tp.partition)).inc()
            log.error(
                "partition stalled: no notice committed since the first failure; still retrying",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": offset,
                    "kind": kind,
                    "stalled_s": round(stalled_s, 1),
                    "attempt": attempt,
                },
            )
        self._update_retry_gauge()
        log.warning(
            "no decision, partition paused before retrying",
            extra={
                "topic": tp.topic,
                "partition": tp.partition,
                "offset": offset,
                "kind": kind,
                "attempt": attempt,
                "delay_s": round(delay, 3),
            },
        )

    def _progressed(self, state: PartitionState, tp: TopicPartition) -> None:
        """The partition committed: whatever stalled it is over."""
        state.stalled_since = None
        if state.stall_alerted:
            state.stall_alerted = False
            log.warning(
                "partition flows again", extra={"topic": tp.topic, "partition": tp.partition}
            )
        self._update_retry_gauge()

    def _update_retry_gauge(self) -> None:
        now = time.monotonic()
        states = self._partitions.values()
        self.metrics.stalled_seconds.set(
            max(
                (now - s.stalled_since for s in states if s.stalled_since is not None),
                default=0.0,
            )
        )
        # A partition waiting to retry has failed at least once.
        waiting = [s.attempts or 1 for s in states if s.resume_at is not None]
        delay = (
            backoff_delay(
                attempt=max(waiting),
                initial_s=self._settings.retry_backoff_initial_s,
                max_s=self._settings.retry_backoff_max_s,
            )
            if waiting
            else 0.0
        )
        self.metrics.retry_delay.set(delay)

    def _engine_health(self, ok: bool) -> None:
        if ok != self._engine_ok:
            log.warning(
                "policy engine answers again" if ok else "policy engine failing",
                extra={"engine": self._engine.name, "state": "up" if ok else "down"},
            )
        self._engine_ok = ok
        self.metrics.engine_up.set(1 if ok else 0)
        self._update_ready()

    def _update_ready(self) -> None:
        self.metrics.ready.set(1 if self.health().ready else 0)

    # --- transactions -------------------------------------------------------------------------

    def _due(self, *, force: bool) -> list[TopicPartition]:
        """Partitions whose waiting batch should commit: all with `force`, else those full or
        waiting `commit_interval_ms`."""
        interval = self._settings.commit_interval_ms / 1000
        now = time.monotonic()
        return [
            tp
            for tp, state in self._partitions.items()
            if state.pending is not None
            and (
                force
                or now - state.pending.since >= interval
                or len(state.pending.outcomes) >= self._settings.max_batch
            )
        ]

    async def _commit_due(self, *, force: bool) -> None:
        due = self._due(force=force)
        if due:
            await asyncio.gather(*(self._flush(tp) for tp in due))

    async def _flush(self, tp: TopicPartition) -> bool:
        """Commit the partition's waiting notices with their offset in one transaction.

        False when the transaction failed: the producer is re-created, the partition re-reads
        from what the broker has committed, after a backoff.
        """
        state = self._partitions.get(tp)
        if state is None or state.pending is None:
            return True
        pending, state.pending = state.pending, None
        started = time.perf_counter()
        messages = [m for outcome in pending.outcomes for m in outcome.messages]
        try:
            producer = await self._producer_for(tp)
            await producer.write_transaction(messages, {tp: pending.next_offset}, self._names.group)
        except TRANSACTION_ERRORS as error:
            # Outcome unknown (e.g. a commit timeout, or fenced by a newer owner): re-create the
            # producer and re-read from the committed offset. The transactional id fences any
            # zombie; consumers are idempotent on notice id anyway.
            if isinstance(error, PERMANENT_ERRORS):
                self._refused_by_broker(state, tp, pending, error)
            self.stats.transaction_failures += 1
            self.metrics.transactions.labels("failed").inc()
            log.error(
                "transaction failed, re-reading partition from its committed offset",
                extra={
                    "error": type(error).__name__,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "next_offset": pending.next_offset,
                },
            )
            await self._close_producer(tp, recreate=True)
            if tp in self._assigned:
                await self._prepare(tp)
                self._retry_later(tp, kind="transaction_failed", offset=pending.next_offset)
            return False
        self.metrics.transaction_latency.observe(time.perf_counter() - started)
        if state.one_by_one_until is not None and state.one_by_one_until <= pending.next_offset:
            state.one_by_one_until = None
        if state.refused is not None and state.refused[0] < pending.next_offset:
            state.refused = None
        self._progressed(state, tp)
        self._committed(pending.outcomes)
        return True

    def _refused_by_broker(
        self, state: PartitionState, tp: TopicPartition, pending: PendingBatch, error: Exception
    ) -> None:
        """A batch's transaction failed for good. With several notices in it, write them one
        per transaction until the one behind it is found; alone, dead-letter it when read again."""
        if len(pending.outcomes) > 1:
            state.one_by_one_until = pending.next_offset
            log.warning(
                "the broker refused a record of a batch for good; writing it one notice per "
                "transaction to find the notice behind it",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
        else:
            state.refused = (pending.next_offset - 1, type(error).__name__)
            log.error(
                "the broker refused a notice's records for good; it will be dead-lettered",
                extra={
                    "error": type(error).__name__,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": pending.next_offset - 1,
                },
            )

    def _committed(self, committed: list[Outcome]) -> None:
        """Count the outcomes of a transaction that has just committed."""
        self.stats.transactions += 1
        self.metrics.transactions.labels("committed").inc()
        # Counted per transaction, then added once per label set: a labels() lookup per
        # notice and subscriber cost more than the rest of this bookkeeping.
        results: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        outcomes: Counter[tuple[str, str]] = Counter()
        disclosed: Counter[str] = Counter()
        kinds: Counter[MessageType] = Counter()
        breaches: list[CeilingBreach] = []
        for outcome in committed:
            if outcome.rejection is not None:
                results["rejected"] += 1
                reasons[outcome.rejection] += 1
            elif outcome.retraction_id is not None:
                results["retracted"] += 1
            else:
                results["decided"] += 1
                for decision in outcome.decisions:
                    outcomes[decision.subscriber_id, decision.outcome.value] += 1
                    if decision.discloses:
                        disclosed[decision.subscriber_id] += 1
            kinds.update(message.kind for message in outcome.messages)
            breaches += outcome.breaches
        self.stats.notices_decided += results["decided"]
        self.stats.notices_rejected += results["rejected"]
        self.stats.feed_items += kinds[MessageType.FEED_ITEM]
        self.stats.retractions_delivered += results["retracted"]
        self.stats.feed_retractions += kinds[MessageType.FEED_RETRACTION]
        self.stats.audit_records += kinds[MessageType.AUDIT_RECORD]
        for result, count in results.items():
            self.metrics.notices_out.labels(result).inc(count)
        for reason, count in reasons.items():
            self.metrics.dead_letters.labels(reason).inc(count)
        for (subscriber_id, value), count in outcomes.items():
            self.stats.outcomes[value] = self.stats.outcomes.get(value, 0) + count
            self.metrics.decisions.labels(subscriber_id, value).inc(count)
        for subscriber_id, count in disclosed.items():
            self.metrics.feed_items.labels(subscriber_id).inc(count)
        for breach in breaches:
            self._ceiling_breached(breach)

    def _ceiling_breached(self, breach: CeilingBreach) -> None:
        """Count and log a withheld decision whose audit record has just committed."""
        self.stats.ceiling_violations += 1
        self.metrics.ceiling_violations.labels(
            breach.subscriber_id, breach.role, breach.notice_type
        ).inc()
        # Ids, codes and schema paths only: no notice content, no linkage key.
        log.error(
            "decision beyond the recipient's disclosure ceiling withheld",
            extra={
                "reason": CEILING_EXCEEDED,
                "notice_id": breach.notice_id,
                "notice_type": breach.notice_type,
                "subscriber_id": breach.subscriber_id,
                "role": breach.role,
                "outcome": breach.policy_outcome.value,
                "offending_paths": list(breach.offending_paths),
                "policy_revision": breach.policy_revision,
            },
        )

    async def _producer_for(self, tp: TopicPartition) -> TransactionalProducer:
        state = self._state(tp)
        if state.producer is None:
            producer = self._new_producer(self._names.transactional_id(tp))
            try:
                await producer.start()  # InitProducerId: fences and aborts a predecessor's txn
            except BaseException:
                await self._stop_producer(producer)
                raise
            state.producer = producer
        return state.producer

    async def _close_producer(self, tp: TopicPartition, *, recreate: bool = False) -> None:
        state = self._partitions.get(tp)
        if state is not None and state.producer is not None:
            producer, state.producer = state.producer, None
            if recreate:
                self.stats.producers_recreated += 1
                self.metrics.producers_recreated.inc()
            await self._stop_producer(producer)

    @staticmethod
    async def _stop_producer(producer: TransactionalProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), _PRODUCER_STOP_TIMEOUT_S)
        except (*TRANSACTION_ERRORS, TimeoutError) as error:
            log.warning("producer did not stop cleanly", extra={"error": type(error).__name__})

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        """Read `tp` from `offset` next; anything fetched before, from below it, is dropped."""
        self._consumer.seek(tp, offset)
        self._state(tp).expected = offset
        # Notices from there on will be read, and claimed, again.
        self._decided.rewind((tp.topic, tp.partition), offset)

    async def _prepare(self, tp: TopicPartition) -> bool:
        """Own the partition's transactional id, read the decided notices, then position at
        the partition's committed offset.

        In this order: initialising the producer fences any other holder of the id and
        settles a transaction whose outcome was unknown, so the decided notices and the
        committed offset read after it are final.
        """
        try:
            await self._producer_for(tp)
        except KafkaError as error:
            log.error(
                "could not initialise the partition's transactional producer",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
            self._state(tp).needs_reset = True
            return False
        try:
            await self._seen_log.catch_up()
        except (KafkaError, TimeoutError) as error:
            log.error(
                "could not read the decided notices; nothing is decided on the partition yet",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
            self._state(tp).needs_reset = True
            return False
        # Its claims that committed were just read back; the others will be claimed again.
        self._decided.forget_claims((tp.topic, tp.partition))
        return await self._reset_to_committed(tp)

    async def _reset_to_committed(self, tp: TopicPartition) -> bool:
        """Point the consumer at the broker's committed offset (the start if none)."""
        try:
            committed = await self._consumer.committed(tp)
            if committed is None:
                await self._consumer.seek_to_beginning(tp)
                self._state(tp).expected = 0
            else:
                self._seek(tp, committed)
        except KafkaError as error:
            log.error(
                "could not read the committed offset",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
            self._state(tp).needs_reset = True
            return False
        self._state(tp).needs_reset = False
        return True

    # --- rebalance ----------------------------------------------------------------------------

    async def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            waiting = [
                tp for tp in revoked if (s := self._partitions.get(tp)) and s.pending is not None
            ]
            await asyncio.gather(*(self._flush(tp) for tp in waiting))
            for tp in revoked:
                await self._close_producer(tp)
                # Everything known of the partition goes with it.
                state = self._partitions.pop(tp, None)
                self._decided.forget_claims((tp.topic, tp.partition))
                if state is not None and state.lag_reported:
                    self.metrics.consumer_lag.remove(tp.topic, str(tp.partition))
            self._assigned = self._assigned - set(revoked)
            self.metrics.assigned_partitions.set(len(self._assigned))
            self._update_retry_gauge()
            self._update_ready()
        if revoked:
            log.info("partitions revoked", extra={"partitions": _names(revoked)})

    async def _on_assigned(self, assigned: list[TopicPartition]) -> None:
        """Fence first, then read where to start (aiokafka cannot do KIP-447).

        aiokafka may already have read the committed offsets. But a previous owner that has
        not noticed it lost the partition could still commit a transaction, moving them. So
        each partition's producer is initialised first (InitProducerId fences the previous
        owner and settles its open transaction), then the committed offset is read again and
        consumption starts from there. A partition that cannot be prepared now waits and is
        prepared again before anything is read from it.
        """
        async with self._lock:
            prepared = await asyncio.gather(*(self._prepare(tp) for tp in assigned))
            self._assigned = frozenset(assigned)
            for tp, ready in zip(assigned, prepared, strict=True):
                if not ready:
                    self._retry_later(tp, kind="partition_setup")
            self.metrics.assigned_partitions.set(len(self._assigned))
            self._update_ready()
        log.info("partitions assigned", extra={"partitions": _names(assigned)})

    # --- lag ----------------------------------------------------------------------------------

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now < self._next_lag_at or not self._assigned:
            return
        self._next_lag_at = now + self._settings.lag_interval_s
        partitions = sorted(self._assigned)
        try:
            ends = await self._consumer.end_offsets(partitions)
            for tp in partitions:
                if tp not in self._assigned:
                    continue
                position = await self._consumer.position(tp)
                lag = max(0, ends.get(tp, position) - position)
                self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(lag)
                self._state(tp).lag_reported = True
        except (KafkaError, AssertionError) as error:  # only a metric: try again next time
            log.warning("could not measure consumer lag", extra={"error": type(error).__name__})


def _names(partitions: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}/{tp.partition}" for tp in partitions)
