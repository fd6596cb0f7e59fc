"""The gateway loop's fail-closed and retry rules, against fakes (tests/gateway/loop_fakes.py):
no broker, no policy engine. The same rules run against the real ones in
tests/gateway/integration and tests/security."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import TopicPartition

from services.gateway.service import Gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.ceilings import DisclosureLimits
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, SigningKey, seal
from services.hubkit.notice import encode_notice
from services.hubkit.topology import load_topology
from tests.factories import POLICIES, catalog, notices
from tests.gateway.loop_fakes import (
    AT,
    FakeBroker,
    FakeChildContext,
    FakeConsumer,
    FakeEngine,
    FakeSeenLog,
)

CATALOG = catalog()
TOPOLOGY = load_topology(POLICIES)
LIMITS = DisclosureLimits.load(POLICIES)
POLICE = TOPOLOGY.agency("POLICE")
POLICE_KEY = SigningKey.generate("adapter-police")
HUB_KEY = SigningKey.generate("gateway")
TP = TopicPartition(POLICE.topic, 0)
FAST = {
    "poll_timeout_ms": 5,
    "commit_interval_ms": 5,
    "retry_backoff_initial_s": 0.01,
    "retry_backoff_max_s": 0.02,
}


class Loop:
    """One gateway over fakes, and the notices published to it."""

    def __init__(self, **settings: Any) -> None:
        self.broker = FakeBroker()
        self.consumer = FakeConsumer(self.broker)
        self.engine = FakeEngine([s.subscriber_id for s in TOPOLOGY.subscribers])
        self.index = FakeChildContext()
        self.gateway = Gateway(
            settings=GatewaySettings.model_validate({**FAST, **settings}),
            topology=TOPOLOGY,
            limits=LIMITS,
            catalog=CATALOG,
            agency_keys=KeyDirectory.of([POLICE_KEY]),
            hub_key=HUB_KEY,
            engine=self.engine,
            child_context=self.index,
            seen_log=FakeSeenLog(),
            consumer=self.consumer,
            producer_factory=self.broker.new_producer,
        )
        self._notices = notices(seed=3)

    def publish(self, count: int) -> list[str]:
        """Signed police notices on TP; their ids."""
        ids = []
        for _ in range(count):
            notice = self._notices.notice("SAFEGUARDING_CONTACT")
            value = seal(CATALOG, encode_notice(CATALOG, notice), POLICE_KEY, AT)
            self.consumer.append(TP, str(notice["subject"]["linkage_key"]).encode(), value)
            ids.append(notice["notice_id"])
        return ids

    def committed_offset(self) -> int | None:
        return self.broker.offsets.get(TP)

    def metric(self, name: str, **labels: str) -> float:
        return self.gateway.metrics.registry.get_sample_value(name, labels) or 0.0

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self.consumer.assign([TP])
        task = asyncio.create_task(self.gateway.run())
        try:
            yield
        finally:
            self.gateway.stop()
            await asyncio.wait_for(task, 5)


async def until(done: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.002)


async def test_a_batch_commits_audit_feeds_and_offset_in_one_transaction_after_fencing() -> None:
    loop = Loop()
    ids = loop.publish(3)
    async with loop.running():
        await until(lambda: loop.committed_offset() == 3)
    transactional_id = f"safehub-gateway-{TP.topic}-0"
    # Fencing before reading: the producer is initialised before the committed offset is read.
    assert loop.broker.events[:2] == [f"init {transactional_id}", f"committed? {TP.topic}-0"]
    assert loop.broker.decided_ids() == ids
    for transaction in loop.broker.committed:
        assert transaction.transactional_id == transactional_id
        decided = len(transaction.kinds(MessageType.NOTICE_SEEN))
        assert len(transaction.kinds(MessageType.FEED_ITEM)) == decided  # the manager's flag
        assert len(transaction.kinds(MessageType.AUDIT_RECORD)) == decided * len(
            TOPOLOGY.subscribers
        )
    assert loop.gateway.stats.notices_decided == 3
    assert all(producer.stopped for producer in loop.broker.producers)


async def test_engine_down_pauses_the_partition_discloses_nothing_then_delivers_once() -> None:
    loop = Loop()
    ids = loop.publish(2)
    loop.engine.down = True
    async with loop.running():
        # Paused before each retry: the second pause follows the failures it answers, so wait
        # for both (until() fails the test if the partition is never paused again).
        await until(lambda: loop.gateway.stats.decision_failures >= 4 and loop.consumer.pauses >= 2)
        health = loop.gateway.health()
        assert not health.engine_ok
        assert not health.ready
        assert loop.broker.committed == [], "no decision, no disclosure"
        failures = loop.metric(
            "safehub_gateway_engine_failures_total", engine="fake", kind="connection"
        )
        assert failures >= 1
        loop.engine.down = False
        await until(lambda: loop.committed_offset() == 2)
        assert loop.gateway.health().engine_ok
    assert loop.broker.decided_ids() == ids, "each notice decided once, in order"
    assert len(loop.broker.records(MessageType.FEED_ITEM)) == 2
    assert loop.gateway.stats.notices_rejected == 0
    assert loop.metric("safehub_gateway_retries_total") >= 2


async def test_an_undecidable_notice_stops_its_partition_after_what_came_before() -> None:
    loop = Loop()
    first, stuck, last = loop.publish(3)
    loop.engine.undecidable = {stuck}
    async with loop.running():
        await until(lambda: loop.engine.asked.count(stuck) >= 3)
        assert loop.committed_offset() == 1
        assert loop.broker.decided_ids() == [first]
        # Decided in the same query, but not delivered: the partition stops at the notice.
        assert len(loop.broker.records(MessageType.FEED_ITEM)) == 1
        loop.engine.undecidable = set()
        await until(lambda: loop.committed_offset() == 3)
    assert loop.broker.decided_ids() == [first, stuck, last]


async def test_a_notice_the_broker_refuses_is_found_one_by_one_and_dead_lettered() -> None:
    loop = Loop(commit_interval_ms=50)
    first, refused, last = loop.publish(3)
    loop.broker.refused_notice_ids = {refused}
    async with loop.running():
        await until(lambda: loop.committed_offset() == 3)
    # The batch of three fails, then one per transaction: the refused notice fails alone and
    # is dead-lettered when read again; its neighbours are delivered once.
    assert loop.broker.failed == 2
    assert [t.offsets[TP] for t in loop.broker.committed] == [1, 2, 3]
    assert loop.broker.decided_ids() == [first, last]
    assert len(loop.broker.records(MessageType.DEAD_LETTER)) == 1
    assert loop.metric("safehub_gateway_dead_letters_total", reason="BROKER_REFUSED") == 1
    assert loop.gateway.stats.notices_rejected == 1
    assert loop.gateway.stats.stall_alerts == 0


async def test_a_transient_failure_is_retried_raises_the_stall_alert_once_and_clears() -> None:
    loop = Loop(stall_alert_after_s=0.05)
    [notice] = loop.publish(1)
    loop.broker.transient_failures = 10**6
    async with loop.running():
        await until(lambda: loop.gateway.stats.stall_alerts >= 1)
        await until(lambda: loop.broker.failed >= 10)
        assert loop.gateway.health().stalled_partitions == 1
        assert loop.gateway.stats.stall_alerts == 1, "once per stall"
        assert loop.metric("safehub_gateway_partition_stalled_seconds") >= 0.05
        assert loop.broker.committed == []
        loop.broker.transient_failures = 0
        await until(lambda: loop.committed_offset() == 1)
        assert loop.gateway.health().stalled_partitions == 0
    assert loop.broker.decided_ids() == [notice], "re-read and decided once, never dead-lettered"
    assert loop.gateway.stats.notices_rejected == 0
    assert loop.gateway.stats.producers_recreated >= 10


async def test_revoked_partitions_commit_their_waiting_notices_before_letting_go() -> None:
    loop = Loop(commit_interval_ms=60_000)
    ids = loop.publish(2)
    async with loop.running():
        await until(lambda: len(loop.engine.asked) == 2)
        await asyncio.sleep(0.02)
        assert loop.broker.committed == [], "waiting for the commit interval"
        loop.consumer.assign([])
        await until(lambda: loop.committed_offset() == 2)
        assert loop.gateway.health().assigned_partitions == 0
        assert all(producer.stopped for producer in loop.broker.producers)
    assert loop.broker.decided_ids() == ids


async def test_a_batch_commits_while_the_next_is_decided_and_a_failure_drops_what_was_decided() -> (
    None
):
    loop = Loop(max_batch=1)  # one notice a poll, and a full batch at once
    first, second = loop.publish(2)
    loop.broker.transient_failures = 1  # the first transaction's outcome is unknown
    loop.broker.transaction_s = 0.02
    failed_when_asked: dict[str, list[int]] = {}
    evaluate_many = loop.engine.evaluate_many

    async def watched(notices: Any, contexts: Any = None, *, timeout_s: Any = None) -> Any:
        for notice in notices:
            failed_when_asked.setdefault(notice["notice_id"], []).append(loop.broker.failed)
        return await evaluate_many(notices, contexts, timeout_s=timeout_s)

    loop.engine.evaluate_many = watched  # type: ignore[method-assign]
    async with loop.running():
        await until(lambda: loop.committed_offset() == 2)
    # The second notice was being decided while the first one's transaction ran (and failed):
    # that decision was dropped with the partition's reset, and the notice decided again
    # when it was read again: never refused as a replay of itself, delivered once.
    assert failed_when_asked[second][0] == 0
    assert len(failed_when_asked[second]) == 2
    assert loop.broker.failed == 1
    assert loop.broker.decided_ids() == [first, second]
    assert loop.gateway.stats.notices_rejected == 0
    assert len(loop.broker.records(MessageType.FEED_ITEM)) == 2


# --- the child's context from the child index ---------------------------------------------


async def test_each_poll_asks_the_index_once_and_each_notice_gets_its_childs_context() -> None:
    loop = Loop()
    ids = loop.publish(3)
    async with loop.running():
        await until(lambda: loop.committed_offset() == 3)
    [(observations, children)] = loop.index.requests
    assert [o["notice_id"] for o in observations] == ids
    assert children == list(dict.fromkeys(o["child_key"] for o in observations))
    assert all(o["agency"] == "POLICE" for o in observations)
    # The policy saw, for every notice, its own child's context (and asked once per poll).
    for contexts in loop.engine.contexts:
        assert contexts is not None
        assert set(contexts) == set(children)
        assert all(contexts[child]["child_key"] == child for child in children)
    assert loop.broker.decided_ids() == ids


async def test_what_the_index_knows_about_a_child_reaches_the_policy_as_it_answered() -> None:
    loop = Loop()
    loop.publish(1)
    child = loop.consumer.logs[TP][0].key.decode()  # a notice is keyed by its child
    known = {
        "child_key": child,
        "keys": [child],
        "exploitation": {"flagged": True, "flagged_by": ["HEALTH"], "types": ["SEXUAL"]},
        "missing_episodes": [],
        "looked_after": True,
        "placing_la": "LA-E09000001",
        "responsible_la": None,
        "cp_plan": None,
        "school_urn": None,
    }
    loop.index.known = {child: known}
    async with loop.running():
        await until(lambda: loop.committed_offset() == 1)
    assert loop.engine.contexts == [{child: known}]


async def test_without_the_childs_context_nothing_is_decided_until_the_index_answers() -> None:
    loop = Loop()
    ids = loop.publish(2)
    loop.index.down = "child_index_unreachable"
    async with loop.running():
        await until(lambda: len(loop.index.requests) >= 3)
        assert loop.broker.committed == [], "no context, no decision, no disclosure"
        assert loop.engine.asked == [], "the policy is never asked without the context"
        assert loop.consumer.pauses >= 2, "paused before each retry"
        failures = loop.metric(
            "safehub_gateway_child_context_failures_total", kind="child_index_unreachable"
        )
        assert failures >= 3
        # The policy engine is not what failed.
        assert loop.gateway.health().engine_ok
        loop.index.down = None
        await until(lambda: loop.committed_offset() == 2)
    assert loop.broker.decided_ids() == ids, "each notice decided once, in order"
    assert loop.index.closed, "the gateway closes its child index client when it stops"


async def test_an_index_slower_than_its_budget_decides_nothing_and_raises_the_stall_alert() -> None:
    loop = Loop(child_index_timeout_s=0.02, stall_alert_after_s=0.05)
    ids = loop.publish(1)
    loop.index.delay_s = 0.2
    async with loop.running():
        await until(lambda: loop.gateway.stats.stall_alerts >= 1)
        assert loop.broker.committed == []
        assert loop.engine.asked == []
        slow = loop.metric(
            "safehub_gateway_child_context_failures_total", kind="child_index_timeout"
        )
        assert slow >= 1
        loop.index.delay_s = 0.0
        await until(lambda: loop.committed_offset() == 1)
    assert loop.broker.decided_ids() == ids


# --- the decision budget while the engine is slow ------------------------------------------


async def test_an_engine_slower_than_a_fixed_budget_never_decides_and_raises_the_stall_alert() -> (
    None
):
    # The collapse bench/scale_out.py measured: every retry is abandoned where the last was.
    loop = Loop(decision_timeout_s=0.05, decision_timeout_max_s=0.05, stall_alert_after_s=0.2)
    ids = loop.publish(1)
    loop.engine.delay_s = 0.15

    def timeouts() -> float:
        return loop.metric("safehub_gateway_engine_failures_total", engine="fake", kind="timeout")

    async with loop.running():
        await until(lambda: timeouts() >= 5 and loop.gateway.stats.stall_alerts >= 1)
        assert set(loop.engine.budgets) == {0.05}
        assert loop.engine.asked == [], "no query was ever answered"
        assert loop.broker.committed == [], "no decision, no disclosure"
        loop.engine.delay_s = 0.0
        await until(lambda: loop.committed_offset() == 1)
    assert loop.broker.decided_ids() == ids


async def test_an_engine_slower_than_the_base_budget_decides_once_the_budget_has_grown() -> None:
    loop = Loop(decision_timeout_s=0.05, decision_timeout_max_s=0.8)
    [notice] = loop.publish(1)
    loop.engine.delay_s = 0.15
    async with loop.running():
        await until(lambda: loop.committed_offset() == 1)
    budgets = loop.engine.budgets
    # 0.05 s and 0.1 s ran out; doubled each time until one was long enough (0.2 s, unless
    # the machine is so loaded that 0.4 s was needed).
    assert budgets[:2] == [0.05, 0.1]
    assert budgets == [0.05 * 2**n for n in range(len(budgets))]
    last = budgets[-1]
    assert last is not None
    assert last > loop.engine.delay_s
    failed = len(budgets) - 1
    assert failed >= 2
    timeouts = loop.metric("safehub_gateway_engine_failures_total", engine="fake", kind="timeout")
    assert timeouts == failed
    assert loop.metric("safehub_gateway_retries_total") == failed
    # Decided on the attempt that was answered, exactly once, audited once per subscriber.
    assert loop.engine.asked == [notice]
    assert loop.broker.decided_ids() == [notice]
    audit = loop.broker.records(MessageType.AUDIT_RECORD)
    assert len(audit) == len(TOPOLOGY.subscribers)
    assert len(loop.broker.records(MessageType.FEED_ITEM)) == 1
    assert loop.gateway.stats.stall_alerts == 0
    # The budget stays grown: the engine still answers in more than half the smaller one.
    assert loop.metric("safehub_gateway_decision_budget_seconds") == budgets[-1]


async def test_the_budget_stops_at_its_cap_and_comes_back_down_once_the_engine_is_fast() -> None:
    loop = Loop(decision_timeout_s=0.02, decision_timeout_max_s=0.08, stall_alert_after_s=0.3)
    first, second, third = loop.publish(3)
    loop.engine.delay_s = 10.0
    loop.engine.undecidable = {second}  # keeps the partition asking after the first
    async with loop.running():
        await until(lambda: loop.gateway.stats.stall_alerts >= 1)
        assert loop.engine.budgets[:4] == [0.02, 0.04, 0.08, 0.08]
        assert set(loop.engine.budgets[2:]) == {0.08}, "never past the cap"
        assert loop.broker.committed == []
        loop.engine.delay_s = 0.0
        await until(lambda: loop.committed_offset() == 1)
        # Fast answers now: one step down per poll, back to the base.
        await until(lambda: loop.engine.budgets[-1] == 0.02)
        loop.engine.undecidable = set()
        await until(lambda: loop.committed_offset() == 3)
    assert loop.broker.decided_ids() == [first, second, third]
    assert loop.metric("safehub_gateway_decision_budget_seconds") == 0.02
