"""The gateway's Kafka edge: consume notices, decide, and write audit + feeds + offsets in
one transaction per input partition, committed in small batches.

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
  waiting or `commit_interval_ms` has passed since the first, then committed together.
* Rebalance. Before partitions are given away their waiting notices are committed and their
  producers closed, under the same lock that covers processing, so no transaction of a
  revoked partition is ever in flight.
* Fail closed, never drop. A notice without a usable decision stops its partition at that
  offset: what was decided before it is committed, the partition is paused and re-read from
  the notice after an exponential backoff, until the engine answers. Nothing is delivered
  for it meanwhile. Notices that can never be processed are dead-lettered and audited.
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
import functools
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

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

from services.gateway.domain.ceiling import CEILING_EXCEEDED, CeilingBreach
from services.gateway.domain.decisions import SharingDecision, parse_decisions
from services.gateway.domain.intake import AcceptedNotice, accept_notice
from services.gateway.domain.pipeline import (
    OutboundMessage,
    messages_for_decisions,
    messages_for_rejection,
)
from services.gateway.domain.replay import DecidedCopy, notice_seen_record
from services.gateway.domain.retry import backoff_delay
from services.gateway.engines import DecisionEngine, EngineAnswer, Notice, query_chunks
from services.gateway.errors import (
    DecisionUnavailable,
    EngineUnavailable,
    NoticeRejected,
    PolicyResultInvalid,
)
from services.gateway.metrics import GatewayMetrics
from services.gateway.seen_log import SeenLog
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import make_consumer, producer_options
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    GATEWAY_GROUP,
    GATEWAY_TRANSACTIONAL_PREFIX,
    NOTICES_SEEN_TOPIC,
    Topology,
)

__all__ = ["BusNames", "Gateway", "GatewayHealth", "GatewayStats"]

log = logging.getLogger("safehub.gateway")

_PRODUCER_STOP_TIMEOUT_S = 10.0
# A transaction writes ~10 records of 1-2 KB per notice, most to the one audit partition. At
# aiokafka's default of 16 KB per record batch that was a hundred batches per transaction,
# sent one after another per partition; half a megabyte stays well below the broker's
# default limit on a batch (message.max.bytes, 1 MB).
_RECORD_BATCH_BYTES = 512 * 1024
# A transaction failing with any of these has an outcome we cannot know from here (aiokafka
# raises IllegalOperation, not a KafkaError, when a producer fenced mid-batch sends again).
_TRANSACTION_ERRORS = (KafkaError, IllegalOperation)
# A transaction failing with one of these will fail the same way however often it is tried:
# the broker refuses a record of it for what it is (too large for the topic, or invalid).
# The notice behind it is found by writing the batch one notice per transaction, and is
# dead-lettered as BROKER_REFUSED; everything else is an outcome we retry (issue 13).
_PERMANENT_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError, CorruptRecordException)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@functools.lru_cache(maxsize=4096)
def _murmur2_positive(key: bytes) -> int:
    # Memoised by key alone: a notice's ~10 records share its linkage key across topics of
    # different partition counts, and murmur2 is pure Python.
    return int(murmur2(key) & 0x7FFFFFFF)


def _keyed_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's default (Java-compatible murmur2) placement, memoised."""
    if key is None:
        return int(DefaultPartitioner()(key, all_partitions, available))
    return all_partitions[_murmur2_positive(key) % len(all_partitions)]


@dataclass(frozen=True, slots=True)
class BusNames:
    """Topic, group and transactional-id names, optionally under a test/benchmark namespace."""

    namespace: str = ""

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}" if self.namespace else name

    @property
    def group(self) -> str:
        return self.topic(GATEWAY_GROUP)

    def transactional_id(self, tp: TopicPartition) -> str:
        return self.topic(f"{GATEWAY_TRANSACTIONAL_PREFIX}{tp.topic}-{tp.partition}")


@dataclass
class GatewayStats:
    """Counts of what this gateway committed (plus failures), for the demo and tests."""

    notices_decided: int = 0
    notices_rejected: int = 0
    decision_failures: int = 0
    transactions: int = 0
    transaction_failures: int = 0
    producers_recreated: int = 0
    feed_items: int = 0
    audit_records: int = 0
    ceiling_violations: int = 0
    stall_alerts: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


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


@dataclass(frozen=True, slots=True)
class _Encoded:
    topic: str
    key: bytes | None
    value: bytes
    kind: MessageType


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What one notice produced, encoded and ready for its transaction."""

    messages: tuple[_Encoded, ...]
    decisions: tuple[SharingDecision, ...] = ()
    rejection: str | None = None
    breaches: tuple[CeilingBreach, ...] = ()


@dataclass(frozen=True, slots=True)
class _Skipped:
    """Not tried: an earlier notice of the same batch already found the engine failing."""

    kind: str


_Result = _Outcome | DecisionUnavailable | _Skipped

_NOT_DECIDED = _Skipped("not_decided")
"""Placeholder of a notice until its query answers; if one were ever left, the notice would
be retried, never skipped."""


@dataclass(frozen=True, slots=True)
class _Undecided:
    """An accepted notice waiting for its decision, and where its outcome goes."""

    tp: TopicPartition
    slot: int
    record: ConsumerRecord
    accepted: AcceptedNotice


@dataclass
class _Pending:
    outcomes: list[_Outcome]
    next_offset: int
    since: float


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
        hub: HubSettings,
        settings: GatewaySettings,
        topology: Topology,
        limits: DisclosureLimits,
        catalog: SchemaCatalog,
        agency_keys: KeyDirectory,
        hub_key: SigningKey,
        engine: DecisionEngine,
        seen_log: SeenLog,
        clock: Callable[[], dt.datetime] = _utc_now,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._hub = hub
        self._settings = settings
        self._topology = topology
        self._limits = limits
        self._catalog = catalog
        self._agency_keys = agency_keys
        self._hub_key = hub_key
        self._engine = engine
        self._clock = clock
        self._names = BusNames(settings.namespace)
        self._agency_by_topic = {self._names.topic(a.topic): a for a in topology.agencies}
        self._subscriber_ids = tuple(s.subscriber_id for s in topology.subscribers)
        self._relay_contact = settings.relay_contact
        self._topics: dict[str, str] = {}
        """Output topic names under the namespace, by topic name."""
        self._producers: dict[TopicPartition, AIOKafkaProducer] = {}
        self._pending: dict[TopicPartition, _Pending] = {}
        self._attempts: dict[TopicPartition, int] = {}
        self._resume_at: dict[TopicPartition, float] = {}
        self._needs_reset: set[TopicPartition] = set()
        self._expected: dict[TopicPartition, int] = {}
        """Per partition, the next offset to handle: records below it were handled already."""
        self._stalled_since: dict[TopicPartition, float] = {}
        """Per partition retrying, when it last made progress (monotonic)."""
        self._stall_alerted: set[TopicPartition] = set()
        self._one_by_one_until: dict[TopicPartition, int] = {}
        """After the broker refused a record of a batch: below this offset, one notice per
        transaction, to find the notice behind it."""
        self._refused: dict[TopicPartition, tuple[int, str]] = {}
        """The offset whose records the broker refused on their own, and the error: the
        notice there is dead-lettered as BROKER_REFUSED when it is read again."""
        self._assigned: frozenset[TopicPartition] = frozenset()
        self._consumer = make_consumer(hub, settings.kafka_principal, group_id=self._names.group)
        self._lock = asyncio.Lock()
        self._decisions_in_flight = asyncio.Semaphore(
            max(1, min(settings.decision_concurrency, engine.max_concurrency))
        )
        self._stopping = asyncio.Event()
        self._running = False
        self._last_turn = time.monotonic()
        self._engine_ok = True
        self._next_lag_at = 0.0
        self._lag_reported: set[TopicPartition] = set()
        self.stats = GatewayStats()
        self.metrics = metrics or GatewayMetrics()
        self._decision_latency = self.metrics.decision_latency.labels(engine.name)
        self._seen_log = seen_log
        self._decided = seen_log.notices
        """Notices decided (read back from the seen log) or claimed on an owned partition."""

    # --- public -------------------------------------------------------------------------------

    @property
    def engine_name(self) -> str:
        return self._engine.name

    async def run(self) -> None:
        """Consume until stop() is called; then commit what was decided and close down."""
        self._consumer.subscribe(topics=list(self._agency_by_topic), listener=_Rebalance(self))
        await self._consumer.start()
        self._running = True
        log.info(
            "gateway started",
            extra={"engine": self._engine.name, "topic": sorted(self._agency_by_topic)},
        )
        try:
            while not self._stopping.is_set():
                self._last_turn = time.monotonic()
                async with self._lock:
                    await self._resume_due()
                batches = await self._consumer.getmany(
                    timeout_ms=self._poll_timeout_ms(), max_records=self._settings.max_batch
                )
                async with self._lock:
                    if batches:
                        await self._handle(batches)
                    await self._commit_due(force=False)
                await self._measure_lag()
            async with self._lock:
                await self._commit_due(force=True)
        finally:
            self._running = False
            for tp in list(self._producers):
                await self._close_producer(tp)
            await self._consumer.stop()
            await self._engine.close()
            self._update_ready()
            log.info("gateway stopped", extra={"engine": self._engine.name})

    def stop(self) -> None:
        self._stopping.set()

    def health(self) -> GatewayHealth:
        alive = self._running and (
            time.monotonic() - self._last_turn < self._settings.stall_after_s
        )
        ready = alive and bool(self._assigned) and self._engine_ok
        return GatewayHealth(
            alive=alive,
            ready=ready,
            assigned_partitions=len(self._assigned),
            engine_ok=self._engine_ok,
            waiting_partitions=len(self._resume_at),
            stalled_partitions=len(self._stall_alerted),
        )

    # --- consume loop -------------------------------------------------------------------------

    def _poll_timeout_ms(self) -> int:
        """Wake up in time for the next due commit or retry."""
        timeout_s = self._settings.poll_timeout_ms / 1000
        now = time.monotonic()
        interval = self._settings.commit_interval_ms / 1000
        for pending in self._pending.values():
            timeout_s = min(timeout_s, pending.since + interval - now)
        for resume_at in self._resume_at.values():
            timeout_s = min(timeout_s, resume_at - now)
        return max(0, int(timeout_s * 1000))

    async def _resume_due(self) -> None:
        now = time.monotonic()
        due = [tp for tp, at in self._resume_at.items() if at <= now]
        for tp in due:
            del self._resume_at[tp]
            if tp not in self._assigned:
                continue
            if tp in self._needs_reset and not await self._prepare(tp):
                self._retry_later(tp, kind="partition_setup")
                continue
            self._consumer.resume(tp)
        self._update_retry_gauge()

    async def _handle(self, batches: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        work: list[tuple[TopicPartition, list[ConsumerRecord]]] = []
        for tp, records in batches.items():
            if not records or tp not in self._assigned:
                continue  # not ours (yet): it is read from the committed offset once prepared
            expected = self._expected.get(tp)
            if tp in self._resume_at or expected is None:
                # Waiting to retry (aiokafka should not even return these): read them again.
                if expected is not None and tp not in self._needs_reset:
                    self._consumer.seek(tp, expected)
                continue
            # Records fetched before our last seek (a retry, a reset after a failed or fenced
            # transaction, a new assignment) may still arrive: an offset below the one we
            # expect was already handled, and handling it again would deliver it twice.
            fresh = [r for r in records if r.offset >= expected]
            if not fresh:
                continue
            self._expected[tp] = fresh[-1].offset + 1
            self.metrics.notices_in.labels(tp.topic).inc(len(fresh))
            work.append((tp, fresh))
        if not work:
            return
        # Intake first (a notice rejected there keeps its place, with its dead letter), then
        # the accepted notices of every partition are decided together, in as few queries as
        # the engine takes, then each partition's outcomes are queued in offset order.
        outcomes: dict[TopicPartition, list[_Result]] = {}
        undecided: list[_Undecided] = []
        for tp, records in work:
            slots: list[_Result] = []
            for record in records:
                accepted = self._intake(record)
                refused = self._refused.get(tp)
                if refused is not None and refused[0] == record.offset:
                    accepted = self._broker_refused(record, accepted, refused[1])
                if isinstance(accepted, _Outcome):
                    slots.append(accepted)
                else:
                    undecided.append(_Undecided(tp, len(slots), record, accepted))
                    slots.append(_NOT_DECIDED)
            outcomes[tp] = slots
        if undecided:
            await self._decide(undecided, outcomes)
        for tp, records in work:
            await self._apply(tp, records, outcomes[tp])

    async def _apply(
        self,
        tp: TopicPartition,
        records: list[ConsumerRecord],
        outcomes: Iterable[_Result],
    ) -> None:
        """Queue the partition's decided notices in offset order, up to the first it could
        not decide; from there the partition is re-read after a backoff."""
        for record, outcome in zip(records, outcomes, strict=True):
            if not isinstance(outcome, _Outcome):
                # Commit what was decided before this notice, then re-read from it later. (If
                # that commit fails, _flush has already reset and paused the partition.)
                if await self._flush(tp):
                    self._seek(tp, record.offset)
                    self._retry_later(tp, kind=outcome.kind, offset=record.offset)
                return
            pending = self._pending.get(tp)
            if pending is None:
                pending = self._pending[tp] = _Pending([], record.offset + 1, time.monotonic())
            pending.outcomes.append(outcome)
            pending.next_offset = record.offset + 1
            one_by_one = record.offset < self._one_by_one_until.get(tp, -1)
            full = one_by_one or len(pending.outcomes) >= self._settings.max_batch
            if full and not await self._flush(tp):
                return  # reset to the committed offset and paused: nothing more queues now
        self._attempts.pop(tp, None)

    def _retry_later(self, tp: TopicPartition, *, kind: str, offset: int | None = None) -> None:
        attempt = self._attempts.get(tp, 0) + 1
        self._attempts[tp] = attempt
        delay = backoff_delay(
            attempt=attempt,
            initial_s=self._settings.retry_backoff_initial_s,
            max_s=self._settings.retry_backoff_max_s,
        )
        now = time.monotonic()
        self._resume_at[tp] = now + delay
        self._consumer.pause(tp)
        self.metrics.retries.inc()
        stalled_s = now - self._stalled_since.setdefault(tp, now)
        if stalled_s >= self._settings.stall_alert_after_s and tp not in self._stall_alerted:
            self._stall_alerted.add(tp)
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

    def _progressed(self, tp: TopicPartition) -> None:
        """The partition committed: whatever stalled it is over."""
        self._stalled_since.pop(tp, None)
        if tp in self._stall_alerted:
            self._stall_alerted.discard(tp)
            log.warning(
                "partition flows again", extra={"topic": tp.topic, "partition": tp.partition}
            )
        self._update_retry_gauge()

    def _update_retry_gauge(self) -> None:
        now = time.monotonic()
        self.metrics.stalled_seconds.set(
            max((now - since for since in self._stalled_since.values()), default=0.0)
        )
        waiting = [self._attempts.get(tp, 1) for tp in self._resume_at]
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

    # --- intake and decisions ----------------------------------------------------------------

    def _intake(self, record: ConsumerRecord) -> AcceptedNotice | _Outcome:
        """The notice to decide, or the dead letter + audit record of one that never can be."""
        agency = self._agency_by_topic[record.topic]
        try:
            accepted = accept_notice(
                catalog=self._catalog,
                keys=self._agency_keys,
                agency=agency,
                key=record.key,
                value=record.value,
            )
            # Refuses a notice decided (or claimed) already: DUPLICATE_NOTICE, CONFLICTING_NOTICE.
            self._decided.claim((record.topic, record.partition), accepted, record.offset)
            return accepted
        except NoticeRejected as rejection:
            log.warning(
                "notice rejected",
                extra={
                    "reason": rejection.reason,
                    "notice_id": rejection.notice_id,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return self._rejected(record, rejection)

    def _rejected(
        self, record: ConsumerRecord, rejection: NoticeRejected, *, keep_original: bool = True
    ) -> _Outcome:
        """The dead letter and audit record of a notice that can never be processed. If the
        original would make them too large to write, they keep its size and digest instead."""
        messages = messages_for_rejection(
            rejection=rejection,
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            key=record.key,
            value=record.value,
            rejected_at=self._clock(),
            keep_original=keep_original,
        )
        encoded = self._encode(messages)
        if keep_original and self._oversize(encoded):
            return self._rejected(record, rejection, keep_original=False)
        return _Outcome(encoded, rejection=rejection.reason)

    def _broker_refused(
        self, record: ConsumerRecord, intake: AcceptedNotice | _Outcome, error: str
    ) -> _Outcome:
        """The dead letter of the notice whose records the broker refused on their own."""
        notice_id = None
        if isinstance(intake, AcceptedNotice):
            notice_id = intake.notice_id
            # Dead-lettered, never decided: its id stays free, as for any other rejection.
            self._decided.release((record.topic, record.partition), notice_id)
        rejection = NoticeRejected(
            "BROKER_REFUSED",
            f"the broker refused a record of this notice ({error}) when it was written on "
            "its own; nothing was disclosed",
            notice_id,
        )
        return self._rejected(record, rejection, keep_original=False)

    def _oversize(self, encoded: Iterable[_Encoded]) -> list[tuple[str, int]]:
        """(topic, size) of each record larger than the gateway may write."""
        limit = self._settings.max_record_bytes
        sizes = ((m.topic, len(m.value) + len(m.key or b"")) for m in encoded)
        return [(topic, size) for topic, size in sizes if size > limit]

    async def _decide(
        self, undecided: list[_Undecided], outcomes: dict[TopicPartition, list[_Result]]
    ) -> None:
        """Decide a poll's accepted notices in as few policy queries as the engine takes,
        queries running concurrently; each notice's outcome goes to its slot in `outcomes`."""
        engine_down: list[str] = []
        failed_at: dict[TopicPartition, int] = {}
        await asyncio.gather(
            *(
                self._decide_query(list(chunk), outcomes, engine_down, failed_at)
                for chunk in query_chunks(undecided, self._engine.batch_size)
            )
        )

    async def _decide_query(
        self,
        query: list[_Undecided],
        outcomes: dict[TopicPartition, list[_Result]],
        engine_down: list[str],
        failed_at: dict[TopicPartition, int],
    ) -> None:
        async with self._decisions_in_flight:
            # Not worth asking about: the engine failed already in this poll, or an earlier
            # notice of the same partition could not be decided (the partition stops there).
            asked: list[_Undecided] = []
            for item in query:
                if engine_down:
                    outcomes[item.tp][item.slot] = _Skipped(engine_down[0])
                elif failed_at.get(item.tp, item.record.offset + 1) < item.record.offset:
                    outcomes[item.tp][item.slot] = _Skipped("earlier_notice_failed")
                else:
                    asked.append(item)
            if not asked:
                return
            started = time.perf_counter()
            answers = await self._ask([item.accepted.notice for item in asked])
            self._decision_latency.observe(time.perf_counter() - started)
        decided_at = self._clock()
        failures: list[tuple[_Undecided, DecisionUnavailable]] = []
        for item, answer in zip(asked, answers, strict=True):
            outcome = self._outcome_of(item.record, item.accepted, answer, decided_at)
            if isinstance(outcome, _Outcome):
                outcome = self._recorded_as_seen(item, outcome, decided_at)
            if isinstance(outcome, DecisionUnavailable):
                failures.append((item, outcome))
            outcomes[item.tp][item.slot] = outcome
        if failures:
            self._undecided(failures, engine_down, failed_at)
        else:
            self._engine_health(ok=True)

    def _recorded_as_seen(
        self, item: _Undecided, outcome: _Outcome, decided_at: dt.datetime
    ) -> _Outcome:
        """A decided notice's outcome with its NoticeSeen record, in the same transaction; a
        notice dead-lettered after all (its records too large) gives its claim back."""
        record = item.record
        if outcome.rejection is not None:
            self._decided.release((record.topic, record.partition), item.accepted.notice_id)
            return outcome
        copy = DecidedCopy(
            item.accepted.payload_sha256, record.topic, record.partition, record.offset
        )
        seen = OutboundMessage(
            NOTICES_SEEN_TOPIC,
            item.accepted.notice_id.encode(),
            MessageType.NOTICE_SEEN,
            notice_seen_record(accepted=item.accepted, copy=copy, decided_at=decided_at),
            signed=False,
        )
        return replace(outcome, messages=(*outcome.messages, *self._encode([seen])))

    async def _ask(self, notices: list[Notice]) -> list[EngineAnswer | DecisionUnavailable]:
        """One policy query within the decision budget. Failures are returned, not raised."""
        try:
            async with asyncio.timeout(self._settings.decision_timeout_s):
                answers = await self._engine.evaluate_many(notices)
            if len(answers) == len(notices):
                return answers
            failure: DecisionUnavailable = PolicyResultInvalid(
                f"the engine answered {len(answers)} times for {len(notices)} notices",
                kind="batch_mismatch",
            )
        except TimeoutError:
            failure = EngineUnavailable("no answer within the decision budget", kind="timeout")
        except DecisionUnavailable as error:
            failure = error
        except Exception as error:  # a bug must not disclose: fail closed and retry
            log.exception("unexpected error while deciding", extra={"error": type(error).__name__})
            failure = DecisionUnavailable(type(error).__name__, kind="unexpected")
        return [failure] * len(notices)

    def _outcome_of(
        self,
        record: ConsumerRecord,
        accepted: AcceptedNotice,
        answer: EngineAnswer | DecisionUnavailable,
        decided_at: dt.datetime,
    ) -> _Outcome | DecisionUnavailable:
        if isinstance(answer, DecisionUnavailable):
            return answer
        try:
            decisions = parse_decisions(answer.result, self._subscriber_ids)
        except DecisionUnavailable as error:
            return error
        except Exception as error:  # a bug must not disclose: fail closed and retry
            log.exception("unexpected error while deciding", extra={"error": type(error).__name__})
            return DecisionUnavailable(type(error).__name__, kind="unexpected")
        decided = messages_for_decisions(
            accepted=accepted,
            decisions=decisions,
            topology=self._topology,
            limits=self._limits,
            policy_revision=answer.policy_revision,
            decided_at=decided_at,
            relay_contact=self._relay_contact,
        )
        encoded = self._encode(decided.messages)
        oversize = self._oversize(encoded)
        if oversize:
            # Permanent: no transaction could ever hold this notice's records. Nothing of it
            # is disclosed; the dead letter says which records and how large (no content).
            largest_topic, largest = max(oversize, key=lambda item: item[1])
            rejection = NoticeRejected(
                "RECORD_TOO_LARGE",
                f"{len(oversize)} of its records would exceed the gateway's record limit of "
                f"{self._settings.max_record_bytes} bytes (largest {largest} bytes, for "
                f"{largest_topic}); nothing was disclosed",
                accepted.notice_id,
            )
            log.error(
                "notice dead-lettered: its records would be too large to write",
                extra={
                    "reason": rejection.reason,
                    "notice_id": accepted.notice_id,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "largest_bytes": largest,
                },
            )
            return self._rejected(record, rejection)
        return _Outcome(encoded, decisions=decided.decisions, breaches=decided.breaches)

    def _undecided(
        self,
        failures: list[tuple[_Undecided, DecisionUnavailable]],
        engine_down: list[str],
        failed_at: dict[TopicPartition, int],
    ) -> None:
        """Account for the notices of one query left without a usable decision."""
        for kind in sorted({failure.kind for _, failure in failures}):
            self.metrics.engine_failures.labels(self._engine.name, kind).inc()
        self.stats.decision_failures += len(failures)
        self._engine_health(ok=False)
        down = [f.kind for _, f in failures if isinstance(f, EngineUnavailable)]
        if down:
            engine_down.append(down[0])
        for item, failure in failures:
            offset = item.record.offset
            if offset >= failed_at.get(item.tp, offset + 1):
                continue  # its partition already stops at an earlier notice
            failed_at[item.tp] = offset
            log.warning(
                "policy engine gave no usable decision",
                extra={
                    "engine": self._engine.name,
                    "kind": failure.kind,
                    "error": str(failure),
                    "notice_id": item.accepted.notice_id,
                    "topic": item.record.topic,
                    "partition": item.record.partition,
                    "offset": offset,
                },
            )

    def _encode(self, messages: list[OutboundMessage]) -> tuple[_Encoded, ...]:
        encoded = []
        signed_at = self._clock()
        for message in messages:
            value = self._catalog.encode(message.message_type, message.record)
            if message.signed:
                value = seal(self._catalog, value, self._hub_key, signed_at)
            topic = self._topics.get(message.topic)
            if topic is None:
                topic = self._topics[message.topic] = self._names.topic(message.topic)
            encoded.append(_Encoded(topic, message.key, value, message.message_type))
        return tuple(encoded)

    def _engine_health(self, *, ok: bool) -> None:
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

    async def _commit_due(self, *, force: bool) -> None:
        interval = self._settings.commit_interval_ms / 1000
        now = time.monotonic()
        due = [tp for tp, p in self._pending.items() if force or now - p.since >= interval]
        if due:
            await asyncio.gather(*(self._flush(tp) for tp in due))

    async def _flush(self, tp: TopicPartition) -> bool:
        """Commit the partition's waiting notices with their offset in one transaction.

        False when the transaction failed: the producer is re-created, the partition re-reads
        from what the broker has committed, after a backoff.
        """
        pending = self._pending.pop(tp, None)
        if pending is None:
            return True
        started = time.perf_counter()
        messages = [m for outcome in pending.outcomes for m in outcome.messages]
        try:
            producer = await self._producer_for(tp)
            async with producer.transaction():
                await asyncio.gather(*await _send_batched(producer, messages))
                await producer.send_offsets_to_transaction(
                    {tp: pending.next_offset}, self._names.group
                )
        except _TRANSACTION_ERRORS as error:
            # Outcome unknown (e.g. a commit timeout, or fenced by a newer owner): re-create the
            # producer and re-read from the committed offset. The transactional id fences any
            # zombie; consumers are idempotent on notice id anyway.
            if isinstance(error, _PERMANENT_ERRORS):
                self._refused_by_broker(tp, pending, error)
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
        if self._one_by_one_until.get(tp, 0) <= pending.next_offset:
            self._one_by_one_until.pop(tp, None)
        refused = self._refused.get(tp)
        if refused is not None and refused[0] < pending.next_offset:
            del self._refused[tp]
        self._progressed(tp)
        self._committed(pending)
        return True

    def _refused_by_broker(self, tp: TopicPartition, pending: _Pending, error: Exception) -> None:
        """A batch's transaction failed for good. With several notices in it, write them one
        per transaction until the one behind it is found; alone, dead-letter it when read again."""
        if len(pending.outcomes) > 1:
            self._one_by_one_until[tp] = pending.next_offset
            log.warning(
                "the broker refused a record of a batch for good; writing it one notice per "
                "transaction to find the notice behind it",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
        else:
            self._refused[tp] = (pending.next_offset - 1, type(error).__name__)
            log.error(
                "the broker refused a notice's records for good; it will be dead-lettered",
                extra={
                    "error": type(error).__name__,
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "offset": pending.next_offset - 1,
                },
            )

    def _committed(self, pending: _Pending) -> None:
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
        for outcome in pending.outcomes:
            if outcome.rejection is not None:
                results["rejected"] += 1
                reasons[outcome.rejection] += 1
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

    async def _producer_for(self, tp: TopicPartition) -> AIOKafkaProducer:
        producer = self._producers.get(tp)
        if producer is None:
            producer = self._new_producer(tp)
            try:
                await producer.start()  # InitProducerId: fences and aborts a predecessor's txn
            except BaseException:
                await self._stop_producer(producer)
                raise
            self._producers[tp] = producer
        return producer

    def _new_producer(self, tp: TopicPartition) -> AIOKafkaProducer:
        """Idempotent, acks=all, with the partition's stable transactional id."""
        options = producer_options(
            self._hub,
            self._settings.kafka_principal,
            transactional_id=self._names.transactional_id(tp),
        )
        return AIOKafkaProducer(
            **options, partitioner=_keyed_partitioner, max_batch_size=_RECORD_BATCH_BYTES
        )

    async def _close_producer(self, tp: TopicPartition, *, recreate: bool = False) -> None:
        producer = self._producers.pop(tp, None)
        if producer is not None:
            if recreate:
                self.stats.producers_recreated += 1
                self.metrics.producers_recreated.inc()
            await self._stop_producer(producer)

    @staticmethod
    async def _stop_producer(producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), _PRODUCER_STOP_TIMEOUT_S)
        except (*_TRANSACTION_ERRORS, TimeoutError) as error:
            log.warning("producer did not stop cleanly", extra={"error": type(error).__name__})

    def _seek(self, tp: TopicPartition, offset: int) -> None:
        """Read `tp` from `offset` next; anything fetched before, from below it, is dropped."""
        self._consumer.seek(tp, offset)
        self._expected[tp] = offset
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
            self._needs_reset.add(tp)
            return False
        try:
            await self._seen_log.catch_up()
        except (KafkaError, TimeoutError) as error:
            log.error(
                "could not read the decided notices; nothing is decided on the partition yet",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
            self._needs_reset.add(tp)
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
                self._expected[tp] = 0
            else:
                self._seek(tp, committed)
        except KafkaError as error:
            log.error(
                "could not read the committed offset",
                extra={"error": type(error).__name__, "topic": tp.topic, "partition": tp.partition},
            )
            self._needs_reset.add(tp)
            return False
        self._needs_reset.discard(tp)
        return True

    # --- rebalance ----------------------------------------------------------------------------

    async def _on_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._lock:
            await asyncio.gather(*(self._flush(tp) for tp in revoked if tp in self._pending))
            for tp in revoked:
                await self._close_producer(tp)
                self._attempts.pop(tp, None)
                self._resume_at.pop(tp, None)
                self._needs_reset.discard(tp)
                self._expected.pop(tp, None)
                self._decided.forget_claims((tp.topic, tp.partition))
                self._stalled_since.pop(tp, None)
                self._stall_alerted.discard(tp)
                self._one_by_one_until.pop(tp, None)
                self._refused.pop(tp, None)
                if tp in self._lag_reported:
                    self._lag_reported.discard(tp)
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
                self._lag_reported.add(tp)
        except (KafkaError, AssertionError) as error:  # only a metric: try again next time
            log.warning("could not measure consumer lag", extra={"error": type(error).__name__})


async def _send_batched(
    producer: AIOKafkaProducer, messages: list[_Encoded]
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
    keyless: list[_Encoded] = []

    async def queue(tp: TopicPartition, batch: Any) -> None:
        batch.close()
        delivery = await producer.send_batch(batch, tp.topic, partition=tp.partition)
        delivery.add_done_callback(_observe)
        deliveries.append(delivery)

    for message in messages:
        if message.key is None:
            keyless.append(message)
            continue
        partitions = numbered.get(message.topic)
        if partitions is None:
            partitions = numbered[message.topic] = sorted(
                await producer.partitions_for(message.topic)
            )
        tp = TopicPartition(message.topic, _keyed_partitioner(message.key, partitions, partitions))
        batch = batches.get(tp)
        if batch is None:
            batch = batches[tp] = producer.create_batch()
        if batch.append(key=message.key, value=message.value, timestamp=None) is None:
            await queue(tp, batch)  # full: the next batch of this partition queues behind it
            batch = batches[tp] = producer.create_batch()
            batch.append(key=message.key, value=message.value, timestamp=None)
    for tp, batch in batches.items():
        await queue(tp, batch)
    for message in keyless:
        delivery = await producer.send(message.topic, value=message.value, key=None)
        delivery.add_done_callback(_observe)
        deliveries.append(delivery)
    return deliveries


def _observe(delivery: asyncio.Future[Any]) -> None:
    """Mark a delivery's failure as seen: the transaction's own error is what we act on."""
    if not delivery.cancelled():
        delivery.exception()


def _names(partitions: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}/{tp.partition}" for tp in partitions)
