"""Batched decisions keep per-notice fail-closed, on the real broker and the real policy.

The gateway asks for a whole poll of notices in a few queries to OPA's batch entrypoint
(through a small HTTP server that forwards to the real OPA). When the answer for one notice
of a batch is unusable, only that notice and the notices after it in its own partition wait;
everything before it in that partition and every other partition is decided and delivered
meanwhile. Once the answer is usable, the rest is delivered, each exactly once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.partitioner import murmur2

from services.gateway.bootstrap import build_gateway
from services.gateway.engines import OpaEngine, bundle_revision
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.gateway.fakeopa import FakeOpa, proxy_to
from tests.gateway.integration.helpers import (
    IsolatedBus,
    Observed,
    drain_into,
    expected_decisions,
    metric,
    read_into,
    wait_until,
)
from tests.gateway.loop_fakes import FakeChildContext
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(240)]

NOTICES = 120
FAILURES = "safehub_gateway_engine_failures_total"


def _partition_of(topology: Topology, notice: dict[str, Any]) -> tuple[str, int]:
    """Where the publisher's (Java-compatible) partitioner puts the notice."""
    topic = topology.agency(notice["source"]["agency"]).topic
    key = str(notice["subject"]["linkage_key"]).encode()
    return topic, (murmur2(key) & 0x7FFFFFFF) % topology.partitions(topic)


def _held_back(
    topology: Topology, notices: list[dict[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A notice with others before and after it in its partition, and the ones after it."""
    by_partition: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for notice in notices:  # published in this order, so this is offset order
        by_partition.setdefault(_partition_of(topology, notice), []).append(notice)
    queue = max(by_partition.values(), key=len)
    assert len(queue) >= 3, "the sample should put several notices in one partition"
    middle = len(queue) // 2
    return queue[middle], queue[middle:]


async def test_an_unusable_answer_holds_back_only_its_notice_and_its_partition(
    stack: HubSettings, topology: Topology
) -> None:
    notices = list(random_notices(seed=6006, count=NOTICES))
    by_id = {n["notice_id"]: n for n in notices}
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    spoiled, held = _held_back(topology, notices)
    held_ids = {n["notice_id"] for n in held}
    real_opa = OpaEngine(stack.opa_url, timeout_s=30, revision=bundle_revision(stack.policies_dir))
    expected = await expected_decisions(real_opa, subscriber_ids, notices)
    await real_opa.close()

    answer = proxy_to(stack.opa_url)
    fake = FakeOpa(answer).start()
    fake.poisoned[spoiled["notice_id"]] = True  # a boolean looks like "allow": never
    async with IsolatedBus(stack, topology, label="batched") as bus:
        settings = bus.gateway_settings(
            engine="opa", retry_backoff_initial_s=0.05, retry_backoff_max_s=0.4
        )
        engine = OpaEngine(fake.url, timeout_s=5.0, revision=bundle_revision(stack.policies_dir))
        gateway = build_gateway(stack, settings, engine=engine, child_context=FakeChildContext())
        registry = gateway.metrics.registry
        audit = await bus.reader(AUDIT_TOPIC)
        feeds = {s.subscriber_id: await bus.reader(s.feed_topic) for s in topology.subscribers}
        observed = Observed(
            SchemaCatalog(stack.schemas_dir),
            KeyDirectory.load(stack.keys_dir / "trusted"),
            frozenset(by_id),
        )
        running = asyncio.create_task(gateway.run())
        try:
            assert await wait_until(lambda: gateway.health().ready, timeout_s=60)
            await bus.publish(notices)
            free = (NOTICES - len(held)) * len(subscriber_ids)
            assert await read_into(observed, audit, until=free, timeout_s=60), (
                f"only {len(observed.decided)} of {free} decisions not held back"
            )
            assert await wait_until(
                lambda: metric(registry, FAILURES, engine="opa", kind="non_object_result") >= 3,
                timeout_s=30,
            ), "the spoiled notice was not retried"
            await drain_into(observed, audit, feeds, quiet_s=0.5)
            decided = {notice_id for notice_id, _ in observed.decided}
            assert decided == set(by_id) - held_ids, "held back the wrong notices"
            assert fake.requests["proxy"] < NOTICES / 2, "notices were not asked about in batches"

            fake.poisoned.clear()
            assert await read_into(
                observed, audit, until=NOTICES * len(subscriber_ids), timeout_s=60
            ), "the held-back notices were not delivered once the answer was usable"
        finally:
            gateway.stop()
            await running
            fake.stop()
            answer.close()  # type: ignore[attr-defined]
        await drain_into(observed, audit, feeds, quiet_s=1.0)

    observed.assert_exactly_once(expected, by_id)
    assert gateway.stats.notices_decided == NOTICES
