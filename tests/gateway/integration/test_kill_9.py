"""kill -9 of the gateway in the middle of a 5,000-notice stream, then a restart: every feed
holds exactly the notices the policy permits, each once, and the audit topic holds exactly
one record per decision.

Real topics, the real `gateway` principal (ACLs, transactional-id prefix, consumer group) and
the shared OPA: the gateway runs as `python -m services.cli.main gateway run`. Other
gateways may share the consumer group meanwhile; exactly once is a property of the group,
and everything here is counted by this test's own notice ids.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest

from services.gateway.engines import OpaEngine, bundle_revision
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology
from tests.gateway.fake_index import FakeChildIndex
from tests.gateway.integration.helpers import (
    Observed,
    drain_into,
    expected_decisions,
    publish_real,
    read_into,
)
from tests.gateway.integration.processes import GatewayProcess
from tests.gateway.notices import random_notices
from tests.integration.bus import TopicReader

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]

NOTICES = 5000
KILL_AT = 0.35  # fraction of the decisions audited when the gateway is killed


async def test_kill_9_mid_stream_then_restart_is_exactly_once(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    seed = secrets.randbelow(10**9)  # fresh notice ids on every run (the topics persist)
    notices = list(random_notices(seed=seed, count=NOTICES))
    by_id = {n["notice_id"]: n for n in notices}
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    total = NOTICES * len(subscriber_ids)

    audit = await TopicReader(stack, "audit", AUDIT_TOPIC).start()
    feeds = {
        s.subscriber_id: await TopicReader(stack, s.principal, s.feed_topic).start()
        for s in topology.subscribers
    }
    observed = Observed(
        SchemaCatalog(stack.schemas_dir),
        KeyDirectory.load(stack.keys_dir / "trusted"),
        frozenset(by_id),
    )
    index = FakeChildIndex().start()  # the process's child index: every child unknown
    env = {
        "SAFEHUB_GATEWAY_ENGINE": "opa",
        "SAFEHUB_GATEWAY_HTTP_PORT": "0",
        **index.gateway_env(),
    }
    first = GatewayProcess(tmp_path / "gateway-1.log", env=env)
    second = GatewayProcess(tmp_path / "gateway-2.log", env=env)
    reference = OpaEngine(stack.opa_url, timeout_s=30, revision=bundle_revision(stack.policies_dir))
    try:
        first.start()
        await publish_real(stack, topology, notices)
        expecting = asyncio.create_task(
            expected_decisions(reference, subscriber_ids, notices, concurrency=4)
        )
        assert await read_into(observed, audit, until=int(total * KILL_AT), timeout_s=150), (
            f"seed {seed}: gateway too slow before the kill\n{first.log_tail()}"
        )
        assert first.running, first.log_tail()
        first.kill_9()
        at_kill = len(observed.decided)
        assert at_kill < total, "the kill must land mid-stream"

        second.start()
        assert await read_into(observed, audit, until=total, timeout_s=200), (
            f"seed {seed}: {len(observed.decided)} of {total} decisions after the restart\n"
            f"{second.log_tail()}"
        )
        assert second.terminate() == 0, second.log_tail()
        # Anything a zombie or a retry could still add would show up here.
        await drain_into(observed, audit, feeds, quiet_s=3.0)
        expected = await expecting
    finally:
        for process in (first, second):
            if process.running:
                process.kill_9()
        await reference.close()
        index.stop()
        for reader in (audit, *feeds.values()):
            await reader.stop()

    observed.assert_exactly_once(expected, by_id)
    assert len(observed.audit) == total
    assert index.observed >= set(by_id), "every notice was decided with its child's context"
