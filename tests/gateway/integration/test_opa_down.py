"""OPA stopped mid-stream: nothing is decided or delivered while it is down, everything is
delivered exactly once after it returns.

The engine is a real OPA process of this test's own (same binary, same policies) so stopping
it disturbs no one else; the topics are isolated so no other gateway decides our notices.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from services.gateway.bootstrap import build_gateway
from services.gateway.engines import OpaEngine, bundle_revision
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.gateway.integration.helpers import (
    IsolatedBus,
    Observed,
    drain_into,
    expected_decisions,
    metric,
    read_into,
    wait_until,
)
from tests.gateway.integration.processes import PrivateOpa
from tests.gateway.loop_fakes import FakeChildContext
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(240)]

NOTICES = 900
RATE = 100  # notices per second, open loop
DOWN_AFTER_S = 3.0
DOWN_FOR_S = 6.0


async def test_opa_stopped_mid_stream(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    notices = list(random_notices(seed=7007, count=NOTICES))
    by_id = {n["notice_id"]: n for n in notices}
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    opa = PrivateOpa(stack, tmp_path / "opa.log")
    opa.start()
    try:
        reference = OpaEngine(opa.url, timeout_s=30, revision="reference")
        expected = await expected_decisions(reference, subscriber_ids, notices)
        await reference.close()

        async with IsolatedBus(stack, topology, label="opadown") as bus:
            settings = bus.gateway_settings(
                engine="opa",
                decision_timeout_s=1.0,
                retry_backoff_initial_s=0.1,
                retry_backoff_max_s=1.0,
            )
            engine = OpaEngine(opa.url, timeout_s=1.0, revision=bundle_revision(stack.policies_dir))
            gateway = build_gateway(
                stack, settings, engine=engine, child_context=FakeChildContext()
            )
            audit = await bus.reader(AUDIT_TOPIC)
            feeds = {s.subscriber_id: await bus.reader(s.feed_topic) for s in topology.subscribers}
            observed = Observed(
                SchemaCatalog(stack.schemas_dir),
                KeyDirectory.load(stack.keys_dir / "trusted"),
                frozenset(by_id),
            )
            running = asyncio.create_task(gateway.run())

            async def stream() -> None:
                chunk = RATE // 10
                for start in range(0, NOTICES, chunk):
                    await bus.publish(notices[start : start + chunk])
                    await asyncio.sleep(0.1)

            try:
                assert await wait_until(lambda: gateway.health().ready, timeout_s=60)
                publishing = asyncio.create_task(stream())
                await asyncio.sleep(DOWN_AFTER_S)

                await asyncio.to_thread(opa.stop)
                down_at = dt.datetime.now(dt.UTC)  # OPA has exited: no answer after this
                await asyncio.sleep(DOWN_FOR_S)
                assert not gateway.health().ready, "/readyz must fail while OPA is down"
                await drain_into(observed, audit, feeds, quiet_s=0.3)
                during = len(observed.decided)
                up_at = dt.datetime.now(dt.UTC)
                await asyncio.to_thread(opa.start)

                await publishing
                assert 0 < during < NOTICES * len(subscriber_ids), (
                    "OPA must go down mid-stream, with notices both before and after"
                )
                assert await read_into(
                    observed, audit, until=NOTICES * len(subscriber_ids), timeout_s=120
                ), f"only {len(observed.decided)} decisions after OPA returned"
                assert await wait_until(lambda: gateway.health().ready, timeout_s=10)
            finally:
                gateway.stop()
                await running
            await drain_into(observed, audit, feeds, quiet_s=1.5)
    finally:
        opa.stop()

    decided_while_down = [t for t in observed.decided_at() if down_at < t < up_at]
    assert not decided_while_down, f"{len(decided_while_down)} records decided while OPA was down"
    observed.assert_exactly_once(expected, by_id)
    registry = gateway.metrics.registry
    failures = "safehub_gateway_engine_failures_total"
    assert metric(registry, failures, engine="opa", kind="unreachable") > 0
    assert metric(registry, "safehub_gateway_retries_total") > 0
