"""Deciding a poll's notices: intake, the policy queries, and each notice's outcome (its
records, encoded and sealed), ready for its partition's transaction. Nothing here writes to
Kafka; the loop (service.py) queues and commits what this returns.

Each poll's notices are decided with their children's contexts: one request to the child
index (child_context_client.py) records what the notices say about their children and
answers what the hub has learned about each child from every agency; the policy reads it as
`input.context`.

Fail closed: a notice without a usable decision gets no outcome (a DecisionUnavailable, or a
`Skipped` placeholder once the engine is known to be failing), so its partition stops there.
Without its children's contexts, no notice of a poll is decided (ChildContextUnavailable).

Each query of a poll has the poll's decision budget (domain/budget.py): the base budget
while the engine keeps up, doubled for the next poll after a query times out, up to
`decision_timeout_max_s`, so a retry is not abandoned where the last attempt was.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from aiokafka import ConsumerRecord, TopicPartition

from services.gateway.bus_names import BusNames
from services.gateway.child_context_client import ChildContextSource
from services.gateway.clients import EncodedRecord
from services.gateway.domain.budget import decision_budget, next_budget_level
from services.gateway.domain.ceiling import CeilingBreach
from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.intake import AcceptedNotice, AcceptedRetraction, accept_message
from services.gateway.domain.pipeline import (
    OutboundMessage,
    messages_for_decisions,
    messages_for_rejection,
)
from services.gateway.domain.replay import DecidedCopy, DecidedNotices, notice_seen_record
from services.gateway.domain.retraction import (
    disclosed_to_of,
    messages_for_retraction,
    retraction_rejection,
)
from services.gateway.engines import (
    ChildContexts,
    DecisionEngine,
    EngineAnswer,
    Notice,
    query_chunks,
)
from services.gateway.errors import (
    ChildContextUnavailable,
    DecisionUnavailable,
    EngineUnavailable,
    NoticeRejected,
    PolicyResultInvalid,
)
from services.gateway.metrics import GatewayMetrics
from services.gateway.settings import GatewaySettings
from services.gateway.stats import GatewayStats
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.child_context import observation_of
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.sharing_decisions import SharingDecision
from services.hubkit.topology import NOTICES_SEEN_TOPIC, Topology

__all__ = ["NOT_DECIDED", "NoticeDecider", "NoticeResult", "Outcome", "Skipped"]

log = logging.getLogger("safehub.gateway")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one notice produced, encoded and ready for its transaction."""

    messages: tuple[EncodedRecord, ...]
    decisions: tuple[SharingDecision, ...] = ()
    rejection: str | None = None
    breaches: tuple[CeilingBreach, ...] = ()
    retraction_id: str | None = None
    """Set when the record was a retraction, delivered (to `len(messages) // 2` recipients)."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Not tried: an earlier notice of the same batch already found the engine failing."""

    kind: str


NoticeResult = Outcome | DecisionUnavailable | Skipped
"""A notice's outcome, or why it has none (its partition stops at it)."""

NOT_DECIDED = Skipped("not_decided")
"""Placeholder of a notice until its query answers; if one were ever left, the notice would
be retried, never skipped."""


@dataclass(frozen=True, slots=True)
class _Undecided:
    """An accepted notice waiting for its decision, and where its outcome goes."""

    tp: TopicPartition
    slot: int
    record: ConsumerRecord
    accepted: AcceptedNotice


@dataclass(frozen=True, slots=True)
class _Retraction:
    """An accepted retraction waiting for the poll's notices to be decided."""

    tp: TopicPartition
    slot: int
    record: ConsumerRecord
    accepted: AcceptedRetraction


class NoticeDecider:
    """Turns a poll's records into outcomes, one per record, in offset order."""

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
        decided: DecidedNotices,
        clock: Callable[[], dt.datetime],
        metrics: GatewayMetrics,
        stats: GatewayStats,
        on_engine_health: Callable[[bool], None],
    ) -> None:
        self._settings = settings
        self._topology = topology
        self._limits = limits
        self._catalog = catalog
        self._agency_keys = agency_keys
        self._hub_key = hub_key
        self._engine = engine
        self._child_context = child_context
        self._decided = decided
        """Notices decided (read back from the seen log) or claimed on an owned partition."""
        self._clock = clock
        self._metrics = metrics
        self._stats = stats
        self._on_engine_health = on_engine_health
        self._names = BusNames(settings.namespace)
        self._agency_by_topic = {self._names.topic(a.topic): a for a in topology.agencies}
        self._subscriber_ids = tuple(s.subscriber_id for s in topology.subscribers)
        self._subscribers = {s.subscriber_id: s for s in topology.subscribers}
        self._relay_contact = settings.relay_contact
        self._topics: dict[str, str] = {}
        """Output topic names under the namespace, by topic name."""
        self._decisions_in_flight = asyncio.Semaphore(
            max(1, min(settings.decision_concurrency, engine.max_concurrency))
        )
        self._decision_latency = metrics.decision_latency.labels(engine.name)
        self._budget_level = 0
        """Doublings of the decision budget (domain/budget.py): one engine serves every
        partition, so how slow it is now is the decider's to remember, not a partition's."""
        self._metrics.decision_budget.set(self.decision_budget_s)

    @property
    def decision_budget_s(self) -> float:
        """The budget of each policy query of the next poll."""
        return decision_budget(
            level=self._budget_level,
            base_s=self._settings.decision_timeout_s,
            max_s=self._settings.decision_timeout_max_s,
        )

    @property
    def input_topics(self) -> list[str]:
        """The agencies' notice topics (under the namespace)."""
        return list(self._agency_by_topic)

    async def decide_poll(
        self,
        work: list[tuple[TopicPartition, list[ConsumerRecord]]],
        refused: Mapping[TopicPartition, tuple[int, str]],
    ) -> dict[TopicPartition, list[NoticeResult]]:
        """Each partition's results, one per record. `refused` names, per partition, the
        offset whose records the broker refused on their own (and the error): that notice
        is dead-lettered as BROKER_REFUSED."""
        # Intake first (a notice rejected there keeps its place, with its dead letter), then
        # the accepted notices of every partition are decided together, in as few queries as
        # the engine takes.
        # Retractions are delivered last, in offset order: one read after its original in the
        # same poll finds the original decided (or its partition stopping there).
        outcomes: dict[TopicPartition, list[NoticeResult]] = {}
        undecided: list[_Undecided] = []
        retractions: list[_Retraction] = []
        for tp, records in work:
            slots: list[NoticeResult] = []
            for record in records:
                accepted = self._intake(record)
                refused_here = refused.get(tp)
                if refused_here is not None and refused_here[0] == record.offset:
                    accepted = self._broker_refused(record, accepted, refused_here[1])
                if isinstance(accepted, Outcome):
                    slots.append(accepted)
                elif isinstance(accepted, AcceptedRetraction):
                    retractions.append(_Retraction(tp, len(slots), record, accepted))
                    slots.append(NOT_DECIDED)
                else:
                    undecided.append(_Undecided(tp, len(slots), record, accepted))
                    slots.append(NOT_DECIDED)
            outcomes[tp] = slots
        if undecided:
            await self._decide(undecided, outcomes)
        for item in retractions:
            outcomes[item.tp][item.slot] = self._retraction_outcome(item)
        return outcomes

    # --- intake -------------------------------------------------------------------------------

    def _intake(self, record: ConsumerRecord) -> AcceptedNotice | AcceptedRetraction | Outcome:
        """The notice to decide (or retraction to deliver), or the dead letter + audit record
        of one that never can be."""
        agency = self._agency_by_topic[record.topic]
        try:
            accepted = accept_message(
                catalog=self._catalog,
                keys=self._agency_keys,
                agency=agency,
                key=record.key,
                value=record.value,
            )
            if isinstance(accepted, AcceptedRetraction):
                return accepted  # claimed when delivered, after the poll's notices
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
    ) -> Outcome:
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
        return Outcome(encoded, rejection=rejection.reason)

    def _broker_refused(
        self,
        record: ConsumerRecord,
        intake: AcceptedNotice | AcceptedRetraction | Outcome,
        error: str,
    ) -> Outcome:
        """The dead letter of the notice whose records the broker refused on their own."""
        notice_id = None
        if isinstance(intake, AcceptedNotice):
            notice_id = intake.notice_id
            # Dead-lettered, never decided: its id stays free, as for any other rejection.
            self._decided.release((record.topic, record.partition), notice_id)
        elif isinstance(intake, AcceptedRetraction):
            notice_id = intake.retracted_notice_id  # its own id was never claimed
        rejection = NoticeRejected(
            "BROKER_REFUSED",
            f"the broker refused a record of this notice ({error}) when it was written on "
            "its own; nothing was disclosed",
            notice_id,
        )
        return self._rejected(record, rejection, keep_original=False)

    def _oversize(self, encoded: Iterable[EncodedRecord]) -> list[tuple[str, int]]:
        """(topic, size) of each record larger than the gateway may write."""
        limit = self._settings.max_record_bytes
        sizes = ((m.topic, len(m.value) + len(m.key or b"")) for m in encoded)
        return [(topic, size) for topic, size in sizes if size > limit]

    # --- decisions ----------------------------------------------------------------------------

    async def _decide(
        self, undecided: list[_Undecided], outcomes: dict[TopicPartition, list[NoticeResult]]
    ) -> None:
        """Decide a poll's accepted notices in as few policy queries as the engine takes,
        queries running concurrently, each notice with its child's context; each notice's
        outcome goes to its slot in `outcomes`."""
        contexts = await self._contexts(undecided)
        if isinstance(contexts, ChildContextUnavailable):
            # Nothing of the poll is decided: each partition stops at its first notice here
            # and retries it after a backoff (the stall alert if it lasts).
            for item in undecided:
                outcomes[item.tp][item.slot] = contexts
            return
        engine_down: list[str] = []
        failed_at: dict[TopicPartition, int] = {}
        budget_s = self.decision_budget_s
        timings = await asyncio.gather(
            *(
                self._decide_query(
                    list(chunk), contexts, outcomes, engine_down, failed_at, budget_s
                )
                for chunk in query_chunks(undecided, self._engine.batch_size)
            )
        )
        self._adjust_budget(timings)

    def _adjust_budget(self, timings: Iterable[tuple[bool, float | None]]) -> None:
        """The next poll's budget, from how this poll's queries fared: (timed out, seconds to
        an answer)."""
        timings = list(timings)
        answered = [seconds for _, seconds in timings if seconds is not None]
        before = self.decision_budget_s
        self._budget_level = next_budget_level(
            level=self._budget_level,
            timed_out=any(timed_out for timed_out, _ in timings),
            slowest_s=max(answered, default=None),
            base_s=self._settings.decision_timeout_s,
            max_s=self._settings.decision_timeout_max_s,
        )
        after = self.decision_budget_s
        if after != before:
            self._metrics.decision_budget.set(after)
            log.warning(
                "decision budget grown: the engine did not answer within it"
                if after > before
                else "decision budget reduced: the engine answers well within it",
                extra={"engine": self._engine.name, "budget_s": after, "was_s": before},
            )

    async def _contexts(
        self, undecided: list[_Undecided]
    ) -> ChildContexts | ChildContextUnavailable:
        """One request for the poll: its notices' observations recorded, the contexts of
        their children back. A failure is returned, not raised."""
        started = time.perf_counter()
        try:
            observations = [observation_of(item.accepted.notice) for item in undecided]
            children = list(dict.fromkeys(o["child_key"] for o in observations))
            async with asyncio.timeout(self._settings.child_index_timeout_s):
                return await self._child_context.contexts(observations, children)
        except TimeoutError:
            failure = ChildContextUnavailable(
                "no answer from the child index within its budget", kind="child_index_timeout"
            )
        except ChildContextUnavailable as error:
            failure = error
        except Exception as error:  # a bug must not decide without context: retry
            log.exception(
                "unexpected error while asking for child contexts",
                extra={"error": type(error).__name__},
            )
            failure = ChildContextUnavailable(type(error).__name__, kind="unexpected")
        finally:
            self._metrics.child_context_latency.observe(time.perf_counter() - started)
        self._metrics.child_context_failures.labels(failure.kind).inc()
        self._stats.decision_failures += len(undecided)
        log.warning(
            "no child contexts from the child index: nothing of the poll decided",
            extra={"kind": failure.kind, "error": str(failure), "notices": len(undecided)},
        )
        return failure

    async def _decide_query(
        self,
        query: list[_Undecided],
        contexts: ChildContexts,
        outcomes: dict[TopicPartition, list[NoticeResult]],
        engine_down: list[str],
        failed_at: dict[TopicPartition, int],
        budget_s: float,
    ) -> tuple[bool, float | None]:
        """Decide one query's notices into their slots of `outcomes`. (Timed out, seconds
        to a usable answer or None), for the budget of the next poll."""
        async with self._decisions_in_flight:
            # Not worth asking about: the engine failed already in this poll, or an earlier
            # notice of the same partition could not be decided (the partition stops there).
            asked: list[_Undecided] = []
            for item in query:
                if engine_down:
                    outcomes[item.tp][item.slot] = Skipped(engine_down[0])
                elif failed_at.get(item.tp, item.record.offset + 1) < item.record.offset:
                    outcomes[item.tp][item.slot] = Skipped("earlier_notice_failed")
                else:
                    asked.append(item)
            if not asked:
                return False, None
            started = time.perf_counter()
            answers = await self._ask([item.accepted.notice for item in asked], contexts, budget_s)
            took_s = time.perf_counter() - started
            self._decision_latency.observe(took_s)
        timed_out = any(
            isinstance(answer, EngineUnavailable) and answer.kind == "timeout" for answer in answers
        )
        answered = any(isinstance(answer, EngineAnswer) for answer in answers)
        decided_at = self._clock()
        failures: list[tuple[_Undecided, DecisionUnavailable]] = []
        for item, answer in zip(asked, answers, strict=True):
            outcome = self._outcome_of(item.record, item.accepted, answer, decided_at)
            if isinstance(outcome, Outcome):
                outcome = self._recorded_as_seen(item, outcome, decided_at)
            if isinstance(outcome, DecisionUnavailable):
                failures.append((item, outcome))
            outcomes[item.tp][item.slot] = outcome
        if failures:
            self._undecided(failures, engine_down, failed_at)
        else:
            self._on_engine_health(True)
        return timed_out, took_s if answered else None

    def _recorded_as_seen(
        self, item: _Undecided, outcome: Outcome, decided_at: dt.datetime
    ) -> Outcome:
        """A decided notice's outcome with its NoticeSeen record, in the same transaction; a
        notice dead-lettered after all (its records too large) gives its claim back."""
        record = item.record
        if outcome.rejection is not None:
            self._decided.release((record.topic, record.partition), item.accepted.notice_id)
            return outcome
        copy = DecidedCopy(
            item.accepted.payload_sha256, record.topic, record.partition, record.offset
        )
        # Who got a feed item: a retraction of the notice goes to exactly these.
        disclosed_to = disclosed_to_of(outcome.decisions)
        seen = OutboundMessage(
            NOTICES_SEEN_TOPIC,
            item.accepted.notice_id.encode(),
            MessageType.NOTICE_SEEN,
            notice_seen_record(
                accepted=item.accepted,
                copy=copy,
                decided_at=decided_at,
                disclosed_to=disclosed_to,
            ),
            signed=False,
        )
        self._decided.decided(
            (record.topic, record.partition), item.accepted.notice_id, disclosed_to
        )
        return replace(outcome, messages=(*outcome.messages, *self._encode([seen])))

    # --- retractions --------------------------------------------------------------------------

    def _retraction_outcome(self, item: _Retraction) -> NoticeResult:
        """The retraction's deliveries to the original's recipients, or its dead letter. Never
        asks the policy: who may know of the original was decided when it was."""
        record, accepted = item.record, item.accepted
        partition = (record.topic, record.partition)
        original = self._decided.original(partition, accepted.retracted_notice_id, record.offset)
        if original is not None and original.disclosed_to is None:
            # Claimed earlier on this partition but not decided (the engine or the child index
            # failed): the partition stops at the original, and this is read again after it.
            return Skipped("earlier_notice_failed")
        try:
            rejection = retraction_rejection(
                accepted=accepted, original=original, partition=partition
            )
            if rejection is not None:
                raise rejection
            try:
                self._decided.claim_retraction(partition, accepted, record.offset)
            except NoticeRejected as replay:
                # Named by the notice it withdraws, as its other rejections are, so the IG
                # finds it under that notice.
                raise NoticeRejected(
                    replay.reason,
                    f"retraction {accepted.retraction_id}: {replay.detail}",
                    accepted.retracted_notice_id,
                ) from None
        except NoticeRejected as rejected:
            log.warning(
                "retraction rejected",
                extra={
                    "reason": rejected.reason,
                    "notice_id": rejected.notice_id,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
            return self._rejected(record, rejected)
        assert original is not None  # retraction_rejection refuses a retraction without one
        delivered_at = self._clock()
        messages = messages_for_retraction(
            accepted=accepted,
            original=original,
            subscribers=self._subscribers,
            copy=DecidedCopy(accepted.payload_sha256, *partition, record.offset),
            delivered_at=delivered_at,
        )
        log.info(
            "retraction delivered",
            extra={
                "notice_id": accepted.retracted_notice_id,
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "messages": len(messages),
            },
        )
        return Outcome(self._encode(messages), retraction_id=accepted.retraction_id)

    async def _ask(
        self, notices: list[Notice], contexts: ChildContexts, budget_s: float
    ) -> list[EngineAnswer | DecisionUnavailable]:
        """One policy query within the decision budget (the engine's HTTP client is given the
        same). Failures are returned, not raised."""
        try:
            async with asyncio.timeout(budget_s):
                answers = await self._engine.evaluate_many(notices, contexts, timeout_s=budget_s)
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
    ) -> Outcome | DecisionUnavailable:
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
        return Outcome(encoded, decisions=decided.decisions, breaches=decided.breaches)

    def _undecided(
        self,
        failures: list[tuple[_Undecided, DecisionUnavailable]],
        engine_down: list[str],
        failed_at: dict[TopicPartition, int],
    ) -> None:
        """Account for the notices of one query left without a usable decision."""
        for kind in sorted({failure.kind for _, failure in failures}):
            self._metrics.engine_failures.labels(self._engine.name, kind).inc()
        self._stats.decision_failures += len(failures)
        self._on_engine_health(False)
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

    def _encode(self, messages: list[OutboundMessage]) -> tuple[EncodedRecord, ...]:
        encoded = []
        signed_at = self._clock()
        for message in messages:
            value = self._catalog.encode(message.message_type, message.record)
            if message.signed:
                value = seal(self._catalog, value, self._hub_key, signed_at)
            topic = self._topics.get(message.topic)
            if topic is None:
                topic = self._topics[message.topic] = self._names.topic(message.topic)
            encoded.append(EncodedRecord(topic, message.key, value, message.message_type))
        return tuple(encoded)
