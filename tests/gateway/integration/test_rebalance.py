"""Exactly once across rebalances and fencing, on the real broker.

Two gateways share a (namespaced) consumer group while notices stream in: the second joins
mid-stream and the first leaves mid-stream, so partitions move twice with decided notices
waiting to commit. Meanwhile a stranger takes the transactional id of a partition twice (as
a restarted owner would): the owner's producer is fenced, its transaction fails with an
outcome it cannot know, and it must re-create the producer and re-read from the committed
offset. Every notice is still audited once per subscriber and delivered once per permitted
feed.
"""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition

from services.gateway.bootstrap import build_gateway
from services.gateway.engines import OpaEngine, bundle_revision
from services.gateway.service import BusNames
from services.hubkit.bus import make_producer
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.gateway.integration.helpers import (
    IsolatedBus,
    Observed,
    drain_into,
    expected_decisions,
    read_into,
    wait_until,
)
from tests.gateway.loop_fakes import FakeChildContext
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(240)]

NOTICES = 1200
RATE = 150


async def test_rebalances_and_fencing_keep_exactly_once(
    stack: HubSettings, topology: Topology
) -> None:
    notices = list(random_notices(seed=3003, count=NOTICES))
    by_id = {n["notice_id"]: n for n in notices}
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    reference = OpaEngine(stack.opa_url, timeout_s=30, revision=bundle_revision(stack.policies_dir))
    expected = await expected_decisions(reference, subscriber_ids, notices)
    await reference.close()

    async with IsolatedBus(stack, topology, label="rebalance") as bus:
        settings = bus.gateway_settings(engine="opa", commit_interval_ms=200)
        first = build_gateway(stack, settings, child_context=FakeChildContext())
        second = build_gateway(stack, settings, child_context=FakeChildContext())
        audit = await bus.reader(AUDIT_TOPIC)
        feeds = {s.subscriber_id: await bus.reader(s.feed_topic) for s in topology.subscribers}
        observed = Observed(
            SchemaCatalog(stack.schemas_dir),
            KeyDirectory.load(stack.keys_dir / "trusted"),
            frozenset(by_id),
        )
        police = TopicPartition(bus.topic(topology.agency("POLICE").topic), 0)
        stolen_id = BusNames(bus.namespace).transactional_id(police)

        async def steal_transactional_id() -> None:
            thief = make_producer(stack, "admin", transactional_id=stolen_id)
            await thief.start()  # InitProducerId: bumps the epoch, fencing the owner
            await thief.stop()

        async def stream() -> None:
            chunk = RATE // 10
            for start in range(0, NOTICES, chunk):
                await bus.publish(notices[start : start + chunk])
                await asyncio.sleep(0.1)

        running_first = asyncio.create_task(first.run())
        running_second: asyncio.Task[None] | None = None
        try:
            assert await wait_until(lambda: first.health().ready, timeout_s=60)
            publishing = asyncio.create_task(stream())
            await asyncio.sleep(1.5)
            await steal_transactional_id()
            running_second = asyncio.create_task(second.run())
            assert await wait_until(
                lambda: second.health().assigned_partitions > 0, timeout_s=60
            ), "the second gateway never got partitions"
            await asyncio.sleep(1.5)
            await steal_transactional_id()
            await asyncio.sleep(1.0)
            first.stop()  # leaves the group: its partitions move with work in flight
            await running_first
            await publishing
            assert await read_into(
                observed, audit, until=NOTICES * len(subscriber_ids), timeout_s=120
            ), f"only {len(observed.decided)} decisions"
        finally:
            first.stop()
            second.stop()
            await asyncio.gather(
                running_first,
                *([running_second] if running_second else []),
                return_exceptions=True,
            )
        await drain_into(observed, audit, feeds, quiet_s=1.5)

    observed.assert_exactly_once(expected, by_id)
    assert first.stats.notices_decided > 0
    assert second.stats.notices_decided > 0
    assert first.stats.notices_decided + second.stats.notices_decided >= NOTICES
    fenced = first.stats.transaction_failures + second.stats.transaction_failures
    recreated = first.stats.producers_recreated + second.stats.producers_recreated
    assert fenced >= 1, "stealing the transactional id should have failed a transaction"
    assert recreated >= 1
