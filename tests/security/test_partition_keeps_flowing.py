"""One valid record must never stall a partition (issue 13, defect 1).

A notice the broker could never accept used to fail its transaction forever: every later
notice on that partition (a third of children) was never delivered. Here, on the real broker
and OPA, with a real gateway on isolated topics:

* a notice whose views would be larger than any record the gateway may write (600 KB of
  quotation marks in the summary: 1.2 MB once escaped as JSON) is dead-lettered as
  RECORD_TOO_LARGE and audited, and the notices behind it on the same partition are decided;
* a notice the broker itself refuses (its feed topic takes only 64 KB records) is found by
  writing one notice per transaction, dead-lettered as BROKER_REFUSED and audited, and the
  partition flows on;
* a failure that is transient (OPA unreachable) is retried, never dead-lettered, and raises
  the stall alert once it persists.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from services.gateway.bootstrap import build_gateway
from services.gateway.engines import OpaEngine
from services.gateway.service import Gateway
from services.hubkit.bus import admin_client
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, Topology
from tests.factories import notices
from tests.gateway.integration.helpers import IsolatedBus, Observed, drain_into, metric, wait_until
from tests.gateway.loop_fakes import FakeChildContext

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(180)]


def _same_child(generator: Any, count: int) -> list[dict[str, Any]]:
    """Safeguarding contacts about one child: one key, so one partition, in this order."""
    batch = [generator.notice("SAFEGUARDING_CONTACT") for _ in range(count)]
    for notice in batch[1:]:
        notice["subject"] = batch[0]["subject"]
    return batch


async def _run_until(gateway: Gateway, done: Any, *, timeout_s: float) -> bool:
    task = asyncio.create_task(gateway.run())
    try:
        return await wait_until(done, timeout_s=timeout_s)
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 30)


async def _outcome(
    bus: IsolatedBus, topology: Topology, stack: HubSettings, ids: set[str]
) -> tuple[Observed, list[dict[str, Any]]]:
    observed = Observed(bus.catalog, KeyDirectory.load(stack.keys_dir / "trusted"), frozenset(ids))
    audit = await bus.reader(AUDIT_TOPIC)
    feeds = {s.subscriber_id: await bus.reader(s.feed_topic) for s in topology.subscribers}
    await drain_into(observed, audit, feeds, quiet_s=1.5)
    dead = await (await bus.reader(DEADLETTER_TOPIC)).drain(quiet_s=1.0)
    letters = [bus.catalog.decode(r.value, MessageType.DEAD_LETTER) for r in dead]
    return observed, letters


def _delivered(observed: Observed) -> set[str]:
    return {item["notice_id"] for items in observed.feeds.values() for item in items}


async def test_a_notice_too_large_to_write_is_dead_lettered_and_the_partition_flows(
    stack: HubSettings, topology: Topology
) -> None:
    generator = notices(seed=1301)
    first, huge, last = _same_child(generator, 3)
    # Valid, and under the broker's limit as a notice (about 880 KB: 240 KB of payload and
    # the agency's field signatures, which escape each quotation mark and base64 it, 640 KB),
    # but a view naming the source holds the escaped text (480 KB) and its signature (640 KB):
    # 1.1 MB, more than any record the gateway writes.
    huge["narrative"]["summary"] = '"' * 240_000
    async with IsolatedBus(stack, topology, label="toolarge") as bus:
        await bus.publish([first, huge, last])
        gateway = build_gateway(
            stack,
            bus.gateway_settings(retry_backoff_initial_s=0.1),
            child_context=FakeChildContext(),
        )
        settled = await _run_until(
            gateway,
            lambda: gateway.stats.notices_decided >= 2 and gateway.stats.notices_rejected >= 1,
            timeout_s=60,
        )
        observed, letters = await _outcome(
            bus, topology, stack, {first["notice_id"], huge["notice_id"], last["notice_id"]}
        )

    assert settled, f"the partition stalled: {gateway.stats}"
    assert _delivered(observed) == {first["notice_id"], last["notice_id"]}
    [letter] = [x for x in letters if x["notice_id"] == huge["notice_id"]]
    assert letter["reason"] == "RECORD_TOO_LARGE"
    assert "nothing was disclosed" in letter["detail"]
    assert '"' * 100 not in letter["detail"], "the detail must not quote the notice"
    rejected = [a for a in observed.audit if a["event"] == "NOTICE_REJECTED"]
    assert [a["reason_code"] for a in rejected] == ["RECORD_TOO_LARGE"]
    assert not {d for d in observed.decided if d[0] == huge["notice_id"]}
    assert (
        metric(
            gateway.metrics.registry,
            "safehub_gateway_dead_letters_total",
            reason="RECORD_TOO_LARGE",
        )
        == 1
    )


async def test_a_record_the_broker_refuses_is_found_dead_lettered_and_the_partition_flows(
    stack: HubSettings, topology: Topology
) -> None:
    generator = notices(seed=1302)
    first, big, last = _same_child(generator, 3)
    big["narrative"]["summary"] = "Seen at the bus station late at night. " * 2_500  # ~100 KB
    async with IsolatedBus(stack, topology, label="refused") as bus:
        # The feeds take at most 64 KB per record: the broker refuses the big notice's views,
        # which the gateway's own limit (1 MB) lets through. Nothing else is near the limit.
        admin = admin_client(stack)
        await admin.start()
        try:
            await admin.alter_configs(
                [
                    ConfigResource(
                        ConfigResourceType.TOPIC,
                        bus.topic(s.feed_topic),
                        configs={"max.message.bytes": "65536"},
                    )
                    for s in topology.subscribers
                ]
            )
        finally:
            await admin.close()
        await bus.publish([first, big, last])
        gateway = build_gateway(
            stack,
            bus.gateway_settings(retry_backoff_initial_s=0.1, retry_backoff_max_s=0.5),
            child_context=FakeChildContext(),
        )
        settled = await _run_until(
            gateway,
            lambda: gateway.stats.notices_decided >= 2 and gateway.stats.notices_rejected >= 1,
            timeout_s=60,
        )
        observed, letters = await _outcome(
            bus, topology, stack, {first["notice_id"], big["notice_id"], last["notice_id"]}
        )

    assert settled, f"the partition stalled: {gateway.stats}"
    assert gateway.stats.transaction_failures >= 1, "the broker never refused anything"
    assert _delivered(observed) == {first["notice_id"], last["notice_id"]}
    [letter] = [x for x in letters if x["notice_id"] == big["notice_id"]]
    assert letter["reason"] == "BROKER_REFUSED"
    assert letter["source_offset"] == 1, "the notice behind the refusal, not its neighbours"
    assert letter["original_value"] == b"", "its dead letter must not be refused in turn"
    assert "MessageSizeTooLargeError" in letter["detail"]
    rejected = [a for a in observed.audit if a["event"] == "NOTICE_REJECTED"]
    assert [a["reason_code"] for a in rejected] == ["BROKER_REFUSED"]
    # Each neighbour decided once, although the batch holding them failed first.
    for notice in (first, last):
        decisions = [a for a in observed.audit if a["notice_id"] == notice["notice_id"]]
        assert len(decisions) == len(topology.subscribers)


async def test_a_transient_failure_is_retried_and_raises_the_stall_alert(
    stack: HubSettings, topology: Topology, unused_tcp_port: int
) -> None:
    generator = notices(seed=1303)
    [notice] = _same_child(generator, 1)
    async with IsolatedBus(stack, topology, label="stall") as bus:
        await bus.publish([notice])
        # OPA unreachable: transient. The notice is retried, never dead-lettered.
        engine = OpaEngine(f"http://127.0.0.1:{unused_tcp_port}", timeout_s=0.5, revision="down")
        gateway = build_gateway(
            stack,
            bus.gateway_settings(
                retry_backoff_initial_s=0.1, retry_backoff_max_s=0.3, stall_alert_after_s=1.0
            ),
            engine=engine,
            child_context=FakeChildContext(),
        )
        alerted = await _run_until(gateway, lambda: gateway.stats.stall_alerts >= 1, timeout_s=20)
        health = gateway.health()
        observed, letters = await _outcome(bus, topology, stack, {notice["notice_id"]})

    assert alerted, "a partition retried for longer than stall_alert_after_s without an alert"
    assert health.stalled_partitions == 1
    assert health.as_json()["partitions_stalled"] == 1
    alerts = sum(
        metric(
            gateway.metrics.registry,
            "safehub_gateway_partition_stall_alerts_total",
            topic=bus.topic(agency.topic),
            partition=str(partition),
        )
        for agency in topology.agencies
        for partition in range(topology.partitions(agency.topic))
    )
    assert alerts == 1, "one alert per stall, not one per retry"
    assert gateway.stats.notices_rejected == 0, "transient is never permanent"
    assert not letters, "transient is never permanent"
    assert not observed.audit, "no decision, no audit record"
    assert not _delivered(observed), "no decision, no disclosure"
