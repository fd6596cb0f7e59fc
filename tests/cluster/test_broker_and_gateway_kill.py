"""SIGKILL one of three brokers and one of two gateways in the middle of a stream of notices,
restart both: every feed exact, each notice decided once, one audit record per decision, no
partition stalled. Prints the time to recover.

The cluster is three KRaft nodes (replication factor 3, min.insync.replicas=2, SASL_SSL with
the stack's certificate); the gateways are the real `safehub gateway run` in one consumer
group, with the real `gateway` principal and ACLs, deciding with the shared OPA. Notices are
published as the adapters publish them (hubkit's NoticePublisher, each agency's key and
principal), at a steady rate, while the faults happen. What is expected comes from the audit
records (one per notice and subscriber, each disclosing decision with exactly one feed item
carrying its decision id), and a sample is checked against the policy itself.

SAFEHUB_CLUSTER_TEST_NOTICES (default 10,000) sets the size of the stream and
SAFEHUB_CLUSTER_TEST_RATE its pace in notices per second (default 0: as fast as the cluster
acknowledges them, so the gateways work through a backlog; on a machine with headroom a rate
below the gateways' capacity makes the lag figures mean "caught up with live traffic").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.gateway.bus_names import BusNames
from services.gateway.engines import OpaEngine, bundle_revision
from services.hubkit.bus import TopicReader, admin_client, make_producer, reader_options
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, Topology
from services.stack.cluster import LoopbackCluster
from tests.gateway.fake_index import FakeChildIndex
from tests.gateway.integration.helpers import Observed, expected_decisions, wait_until
from tests.gateway.integration.processes import GatewayProcess
from tests.gateway.notices import random_notices

pytestmark = [pytest.mark.cluster, pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(900)]

NOTICES = int(os.environ.get("SAFEHUB_CLUSTER_TEST_NOTICES", "10000"))
RATE = float(os.environ.get("SAFEHUB_CLUSTER_TEST_RATE", "0"))
KILL_AT = 0.35  # fraction of the decisions committed when the broker and a gateway die
DOWN_S = 5.0  # how long both stay dead: long enough for leaders and the group to move
KILLED_BROKER = 2
CHUNK = 50  # notices sent between two looks at the clock (pacing)
POLICY_SAMPLE = 200  # notices whose audited decisions are compared with the policy's


@dataclass
class Clock:
    """Monotonic seconds of the moments the recovery figures are measured from."""

    started: float = field(default_factory=time.monotonic)
    killed: float | None = None
    killed_ms: int | None = None
    """Wall-clock milliseconds of the kill, compared with the records' CreateTime."""

    def since_kill(self) -> float:
        assert self.killed is not None
        return time.monotonic() - self.killed


@dataclass
class AuditProgress:
    """Committed audit records as they arrive (read_committed, no decoding: cheap enough to
    run beside the gateways), and when the first one written after the kill arrived."""

    count: int = 0
    first_after_kill_s: float | None = None
    timeline: list[tuple[float, int]] = field(default_factory=list)
    """(monotonic seconds, records so far) after every batch read."""

    def count_at(self, at: float) -> int:
        return max((n for t, n in self.timeline if t <= at), default=0)


async def follow_audit(reader: TopicReader, progress: AuditProgress, clock: Clock) -> None:
    while True:
        batch = await reader.read_until(lambda rs: len(rs) > 0, timeout_s=0.5)
        progress.count += len(batch)
        progress.timeline.append((time.monotonic(), progress.count))
        if (
            progress.first_after_kill_s is None
            and clock.killed_ms is not None
            and any(record.timestamp > clock.killed_ms for record in batch)
        ):
            progress.first_after_kill_s = clock.since_kill()


@dataclass
class OffsetSample:
    at: float
    committed: dict[TopicPartition, int]
    end: dict[TopicPartition, int]

    def behind(self) -> dict[TopicPartition, int]:
        return {
            tp: end - self.committed.get(tp, 0)
            for tp, end in self.end.items()
            if end > self.committed.get(tp, 0)
        }


async def sample_offsets(
    hub: HubSettings, group: str, partitions: Sequence[TopicPartition]
) -> OffsetSample:
    admin = admin_client(hub)
    consumer = AIOKafkaConsumer(**reader_options(hub, "admin", client_id="cluster-test-offsets"))
    try:
        await admin.start()
        await consumer.start()
        committed = await admin.list_consumer_group_offsets(group)
        end = await consumer.end_offsets(list(partitions))
    finally:
        await consumer.stop()
        await admin.close()
    return OffsetSample(
        time.monotonic(),
        {tp: meta.offset for tp, meta in committed.items() if tp in end},
        dict(end),
    )


async def watch_offsets(
    hub: HubSettings,
    group: str,
    partitions: Sequence[TopicPartition],
    samples: list[OffsetSample],
) -> None:
    """The group's committed offset and the end of every input partition, twice a second.
    A sample that fails (a broker is down, the coordinator moves) is skipped, and so is one
    missing offsets an earlier sample had (a coordinator still loading the offsets topic
    answers with none)."""
    while True:
        with contextlib.suppress(Exception):
            sample = await asyncio.wait_for(sample_offsets(hub, group, partitions), 5.0)
            if not samples or set(samples[-1].committed) <= set(sample.committed):
                samples.append(sample)
        await asyncio.sleep(0.5)


async def fully_replicated(hub: HubSettings, topics: Sequence[str], replicas: int) -> bool:
    admin = admin_client(hub)
    try:
        await admin.start()
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return all(
        len(partition["isr"]) == replicas
        for topic in described
        for partition in topic["partitions"]
    )


async def publish_stream(
    hub: HubSettings,
    topology: Topology,
    notices: Sequence[dict[str, Any]],
    *,
    rate: float,
) -> float:
    """Publish as the adapters do (one idempotent acks=all producer per agency principal,
    each notice sealed with the agency's key), `rate` notices a second; the seconds taken."""
    catalog = SchemaCatalog(hub.schemas_dir)
    producers: dict[str, AIOKafkaProducer] = {}
    publishers: dict[str, NoticePublisher] = {}
    started = time.monotonic()
    try:
        for first in range(0, len(notices), CHUNK):
            if rate > 0:
                await asyncio.sleep(max(0.0, started + first / rate - time.monotonic()))
            futures = []
            for notice in notices[first : first + CHUNK]:
                code = notice["source"]["agency"]
                if code not in publishers:
                    agency = topology.agency(code)
                    producers[code] = make_producer(hub, agency.principal)
                    await producers[code].start()
                    publishers[code] = NoticePublisher(
                        producer=producers[code],
                        catalog=catalog,
                        agency=agency,
                        signing_key=load_signing_key(hub.keys_dir, agency.principal),
                    )
                futures.append(await publishers[code].enqueue(notice))
            await asyncio.gather(*futures)
    finally:
        for producer in producers.values():
            await producer.stop()
    return time.monotonic() - started


async def read_everything(hub: HubSettings, topology: Topology, observed: Observed) -> list[Any]:
    """Audit topic and every feed from the beginning (the cluster is this test's alone);
    the dead letters, raw."""
    audit = await TopicReader(
        hub, "admin", AUDIT_TOPIC, partitions=topology.partitions(AUDIT_TOPIC)
    ).start(from_beginning=True)
    dead = await TopicReader(
        hub, "admin", DEADLETTER_TOPIC, partitions=topology.partitions(DEADLETTER_TOPIC)
    ).start(from_beginning=True)
    feeds = {
        s.subscriber_id: await TopicReader(
            hub, "admin", s.feed_topic, partitions=topology.partitions(s.feed_topic)
        ).start(from_beginning=True)
        for s in topology.subscribers
    }
    try:
        observed.add_audit(await audit.drain(quiet_s=3.0))
        for subscriber_id, reader in feeds.items():
            observed.add_feed(subscriber_id, await reader.drain(quiet_s=2.0))
        return await dead.drain(quiet_s=2.0)
    finally:
        for reader in (audit, dead, *feeds.values()):
            await reader.stop()


def assert_exactly_once_by_audit(
    observed: Observed, notice_ids: frozenset[str], subscriber_ids: Sequence[str]
) -> tuple[int, int]:
    """(decisions, feed items): every notice decided once for every subscriber, and every
    feed holding exactly the notices its audited decisions disclose, each once, under the
    audited decision's id and outcome."""
    events = Counter(a["event"] for a in observed.audit)
    assert set(events) == {"SHARING_DECISION"}, f"audit events for these notices: {events}"
    pairs = Counter((a["notice_id"], a["recipient"]["subscriber_id"]) for a in observed.audit)
    twice = {k: c for k, c in pairs.items() if c > 1}
    assert not twice, f"{len(twice)} decisions audited more than once, e.g. {list(twice)[:3]}"
    wanted = {(n, s) for n in notice_ids for s in subscriber_ids}
    assert set(pairs) == wanted, (
        f"audit: {len(wanted - set(pairs))} decisions missing, "
        f"{len(set(pairs) - wanted)} unexpected"
    )
    audited = {(a["notice_id"], a["recipient"]["subscriber_id"]): a for a in observed.audit}
    items = 0
    for subscriber_id in subscriber_ids:
        feed = observed.feeds.get(subscriber_id, [])
        counts = Counter(i["notice_id"] for i in feed)
        twice_fed = [n for n, c in counts.items() if c > 1]
        assert not twice_fed, f"{subscriber_id}: {len(twice_fed)} notices delivered twice"
        disclosed = {
            n
            for n in notice_ids
            if audited[n, subscriber_id]["fields_disclosed"]
            and audited[n, subscriber_id]["outcome"] != "DENY"
        }
        assert set(counts) == disclosed, (
            f"{subscriber_id}: {len(disclosed - set(counts))} disclosed notices missing from "
            f"the feed, {len(set(counts) - disclosed)} delivered without a disclosing decision"
        )
        for item in feed:
            record = audited[item["notice_id"], subscriber_id]
            assert item["decision_id"] == str(record["decision_id"])
            assert item["outcome"] == record["outcome"]
        items += len(feed)
    return len(observed.audit), items


async def test_broker_and_gateway_sigkill_mid_stream(
    cluster: LoopbackCluster, topology: Topology, tmp_path: Path
) -> None:
    hub = cluster.settings
    seed = secrets.randbelow(10**9)
    notices = list(random_notices(seed=seed, count=NOTICES))
    by_id = {str(n["notice_id"]): n for n in notices}
    assert len(by_id) == NOTICES, f"seed {seed}: notice ids repeat"
    subscriber_ids = [s.subscriber_id for s in topology.subscribers]
    total = NOTICES * len(subscriber_ids)
    group = BusNames("").group
    inputs = sorted({topology.agency(n["source"]["agency"]).topic for n in notices})
    partitions = [TopicPartition(t, p) for t in inputs for p in range(topology.partitions(t))]

    index = FakeChildIndex().start()
    env = {
        **cluster.env(),
        "SAFEHUB_GATEWAY_ENGINE": "opa",
        "SAFEHUB_GATEWAY_HTTP_PORT": "0",
        # The shared OPA, on a small machine, shared with other tests: at the default budget
        # (2 s) and 16 queries in flight per gateway, batches time out every few seconds
        # (about 55 per gateway per run, each pausing a partition for a retry), which measures
        # OPA's contention rather than the cluster's recovery.
        "SAFEHUB_GATEWAY_DECISION_TIMEOUT_S": "10",
        "SAFEHUB_GATEWAY_DECISION_CONCURRENCY": "4",
        **index.gateway_env(),
    }
    first = GatewayProcess(tmp_path / "gateway-1.log", env=env)
    second = GatewayProcess(tmp_path / "gateway-2.log", env=env)
    restarted = GatewayProcess(tmp_path / "gateway-1-restarted.log", env=env)
    clock = Clock()
    progress = AuditProgress()
    samples: list[OffsetSample] = []
    audit = await TopicReader(
        hub, "admin", AUDIT_TOPIC, partitions=topology.partitions(AUDIT_TOPIC)
    ).start(from_beginning=True)
    background: list[asyncio.Task[Any]] = []
    figures: dict[str, Any] = {"notices": NOTICES, "subscribers": len(subscriber_ids), "seed": seed}
    try:
        first.start()
        second.start()
        background += [
            asyncio.create_task(follow_audit(audit, progress, clock)),
            asyncio.create_task(watch_offsets(hub, group, partitions, samples)),
        ]
        publishing = asyncio.create_task(publish_stream(hub, topology, notices, rate=RATE))
        background.append(publishing)  # cancelled too if the test fails before it ends

        assert await wait_until(lambda: progress.count >= total * KILL_AT, timeout_s=240), (
            f"seed {seed}: {progress.count} of {total} decisions before the kill\n"
            f"{first.log_tail()}\n{second.log_tail()}"
        )
        figures["kill_after_s"] = round(time.monotonic() - clock.started, 1)
        assert first.running, first.log_tail()
        assert second.running, second.log_tail()
        clock.killed_ms = int(time.time() * 1000)
        clock.killed = time.monotonic()
        cluster.kill(KILLED_BROKER)
        first.kill_9()
        at_kill = progress.count
        assert at_kill < total, "the kill must land mid-stream"

        await asyncio.sleep(DOWN_S)
        restarted.start()
        await asyncio.to_thread(cluster.restart, KILLED_BROKER)
        figures["broker_registered_again_s"] = round(clock.since_kill(), 1)

        figures["publish_s"] = round(await asyncio.wait_for(publishing, timeout=300), 1)
        assert await wait_until(lambda: progress.count >= total, timeout_s=300), (
            f"seed {seed}: {progress.count} of {total} decisions after the restarts\n"
            f"{second.log_tail()}\n{restarted.log_tail()}"
        )
        figures["all_decided_after_kill_s"] = round(clock.since_kill(), 1)
        replicated = await wait_for_async(
            lambda: fully_replicated(hub, [*inputs, AUDIT_TOPIC], 3), timeout_s=120
        )
        assert replicated, f"node {KILLED_BROKER} never caught up with the other replicas"
        figures["isr_full_after_kill_s"] = round(clock.since_kill(), 1)
        # The offsets of the last transactions land with them; one more sample sees them.
        await asyncio.sleep(1.5)
        assert second.terminate() == 0, second.log_tail()
        assert restarted.terminate() == 0, restarted.log_tail()
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for process in (first, second, restarted):
            if process.running:
                process.kill_9()
        index.stop()
        await audit.stop()

    checking = time.monotonic()
    final = await sample_offsets(hub, group, partitions)
    stalled = final.behind()
    assert not stalled, f"partitions whose committed offset never reached the end: {stalled}"
    assert sum(final.end.values()) == NOTICES, "every notice published exactly once"

    observed = Observed(
        SchemaCatalog(hub.schemas_dir),
        KeyDirectory.load(hub.keys_dir / "trusted"),
        frozenset(by_id),
    )
    dead_letters = await read_everything(hub, topology, observed)
    assert not dead_letters, f"{len(dead_letters)} dead letters (e.g. DUPLICATE_NOTICE)"
    decisions, items = assert_exactly_once_by_audit(observed, frozenset(by_id), subscriber_ids)
    assert decisions == total
    assert index.observed >= set(by_id), "every notice was decided with its child's context"
    await assert_sample_matches_policy(hub, observed, notices, subscriber_ids, seed)

    figures |= recovery_figures(samples, clock, progress)
    figures |= {"decisions": decisions, "feed_items": items, "dead_letters": 0}
    figures["checks_s"] = round(time.monotonic() - checking, 1)
    figures["run_s"] = round(time.monotonic() - clock.started, 1)
    print("\ncluster fault test:", json.dumps(figures, indent=1))


async def wait_for_async(check: Any, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if await check():
                return True
        await asyncio.sleep(1.0)
    return False


async def assert_sample_matches_policy(
    hub: HubSettings,
    observed: Observed,
    notices: Sequence[dict[str, Any]],
    subscriber_ids: Sequence[str],
    seed: int,
) -> None:
    """The audited decisions are the policy's (outcome and rules), on a random sample."""
    sample = random.Random(seed).sample(list(notices), min(POLICY_SAMPLE, len(notices)))
    reference = OpaEngine(hub.opa_url, timeout_s=30, revision=bundle_revision(hub.policies_dir))
    try:
        expected = await expected_decisions(reference, subscriber_ids, sample, concurrency=4)
    finally:
        await reference.close()
    audited = {(a["notice_id"], a["recipient"]["subscriber_id"]): a for a in observed.audit}
    for notice_id, decisions in expected.items():
        for subscriber_id, decision in decisions.items():
            record = audited[notice_id, subscriber_id]
            assert record["outcome"] == decision.outcome.value, record["decision_id"]
            assert record["rule_ids"] == list(decision.rule_ids), record["decision_id"]


def recovery_figures(
    samples: Sequence[OffsetSample], clock: Clock, progress: AuditProgress
) -> dict[str, Any]:
    """Seconds from the kill until: the first audit record written after it was committed;
    every input partition moved past its committed offset at the kill (or had nothing left);
    the group's lag was zero. Plus the largest lag seen after the kill."""
    assert clock.killed is not None
    before = [s for s in samples if s.at <= clock.killed]
    after = [s for s in samples if s.at > clock.killed]
    assert before, "offsets were sampled before the kill"
    assert after, "offsets were sampled after the kill"
    at_kill = before[-1].committed
    # Per partition: the first sample after the kill where it had moved past its committed
    # offset at the kill, or had nothing left to decide (infinity: never).
    moving: dict[TopicPartition, float] = {
        tp: next(
            (
                s.at - clock.killed
                for s in after
                if s.committed.get(tp, 0) > at_kill.get(tp, 0) or tp not in s.behind()
            ),
            math.inf,
        )
        for tp in after[-1].end
    }
    slowest = max(moving, key=moving.__getitem__)
    all_moving = moving[slowest] if math.isfinite(moving[slowest]) else None
    lag_zero = next((s.at - clock.killed for s in after if not s.behind()), None)
    # Full speed again: the first 5 s window after the kill deciding at least 80% of the rate
    # of the 20 s before it (whether the gateways work through a backlog or keep pace).
    killed = clock.killed
    before_rate = (progress.count_at(killed) - progress.count_at(killed - 20.0)) / 20.0
    full_speed = None
    for step in range(int(progress.timeline[-1][0] - killed)):
        start = killed + step
        window = progress.count_at(start + 5.0) - progress.count_at(start)
        if window / 5.0 >= 0.8 * before_rate:
            full_speed = start + 5.0 - killed
            break
    return {
        "decisions_per_s_20s_before_kill": round(before_rate, 1),
        "first_decision_after_kill_s": _rounded(progress.first_after_kill_s),
        "full_speed_after_kill_s": _rounded(full_speed),
        "every_partition_moving_s": _rounded(all_moving),
        "slowest_partition": f"{slowest.topic}/{slowest.partition}",
        "partitions_moving_by_s": [round(t, 1) for t in sorted(moving.values())],
        "lag_at_kill": sum(before[-1].behind().values()),
        "max_lag_after_kill": max(sum(s.behind().values()) for s in after),
        "lag_zero_s": _rounded(lag_zero),
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
