"""Fail closed, never drop: every way the policy engine can fail, on the real broker.

The gateway runs in process against a small HTTP server standing in for OPA (it forwards to
the real OPA when healthy). For each failure mode a few notices are published: while the
engine fails nothing is audited or delivered, the partition is retried with backoff, the
failure shows in the metrics and /readyz; once the engine answers, every notice is decided
and delivered exactly once. Isolated topics, so no other gateway can decide our notices.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from services.gateway.bootstrap import build_gateway
from services.gateway.engines import OpaEngine, bundle_revision
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.gateway.fakeopa import FAILURE_MODES, FakeOpa, proxy_to
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

PER_MODE = 4
FAILURES = "safehub_gateway_engine_failures_total"


async def test_no_decision_no_disclosure_then_exactly_once_after_recovery(
    stack: HubSettings, topology: Topology
) -> None:
    modes = sorted(FAILURE_MODES)
    notices = list(random_notices(seed=5005, count=PER_MODE * len(modes)))
    by_id = {n["notice_id"]: n for n in notices}
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    real_opa = OpaEngine(stack.opa_url, timeout_s=30, revision=bundle_revision(stack.policies_dir))
    expected = await expected_decisions(real_opa, subscriber_ids, notices)
    await real_opa.close()

    answer = proxy_to(stack.opa_url)
    fake = FakeOpa(answer, slow_s=1.0).start()
    async with IsolatedBus(stack, topology, label="failclosed") as bus:
        settings = bus.gateway_settings(
            engine="opa",
            decision_timeout_s=0.4,
            # A fixed budget: the slow mode must stay slower than every attempt's budget
            # (a growing one is tested in tests/gateway/unit/test_loop.py).
            decision_timeout_max_s=0.4,
            retry_backoff_initial_s=0.05,
            retry_backoff_max_s=0.4,
            commit_interval_ms=50,
        )
        engine = OpaEngine(fake.url, timeout_s=0.4, revision=bundle_revision(stack.policies_dir))
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
        recovered_at: dict[str, dt.datetime] = {}
        try:
            assert await wait_until(lambda: gateway.health().ready, timeout_s=60)
            for index, mode in enumerate(modes):
                kind = FAILURE_MODES[mode]
                batch = notices[index * PER_MODE : (index + 1) * PER_MODE]
                fake.set_mode(mode)
                failures_before = metric(registry, FAILURES, engine="opa", kind=kind)
                await bus.publish(batch)

                # Tried, failed, and tried again after a backoff, more than once.
                def retried(kind: str = kind, before: float = failures_before) -> bool:
                    return metric(registry, FAILURES, engine="opa", kind=kind) >= before + 3

                assert await wait_until(retried, timeout_s=30), f"{mode}: the gateway did not retry"
                assert not gateway.health().ready, f"{mode}: /readyz should fail"
                await drain_into(observed, audit, feeds, quiet_s=0.3)
                batch_ids = {n["notice_id"] for n in batch}
                leaked = [a for a in observed.audit if a["notice_id"] in batch_ids]
                leaked += [
                    i
                    for items in observed.feeds.values()
                    for i in items
                    if i["notice_id"] in batch_ids
                ]
                assert not leaked, f"{mode}: something was decided without a usable answer"

                recovered_at[mode] = dt.datetime.now(dt.UTC)
                fake.set_mode("proxy")
                done = len(observed.decided) + PER_MODE * len(subscriber_ids)
                assert await read_into(observed, audit, until=done, timeout_s=30), (
                    f"{mode}: not delivered after the engine recovered"
                )
                assert await wait_until(lambda: gateway.health().ready, timeout_s=10)
                for record in observed.audit:
                    if record["notice_id"] in batch_ids:
                        # Decided only once a usable answer came (ms precision on the wire).
                        assert record["decided_at"] >= recovered_at[mode] - dt.timedelta(
                            milliseconds=5
                        ), mode
        finally:
            gateway.stop()
            await running
            fake.stop()
            answer.close()  # type: ignore[attr-defined]
        await drain_into(observed, audit, feeds, quiet_s=1.0)

    observed.assert_exactly_once(expected, by_id)
    for mode in modes:
        assert metric(registry, FAILURES, engine="opa", kind=FAILURE_MODES[mode]) >= 3, mode
    assert metric(registry, "safehub_gateway_retries_total") >= 3 * len(modes)
    assert metric(registry, "safehub_gateway_notices_committed_total", result="decided") == len(
        notices
    )
    assert gateway.stats.notices_decided == len(notices)
