"""A decided notice is never decided again (issue 13, defect 3).

Re-producing an already decided signed envelope onto an agency's topic used to yield a
second set of decisions: feed items and audit records. Here, on the real broker and OPA with
real gateways on isolated topics, as someone holding the police credential and key would:

* the same bytes again are dead-lettered as DUPLICATE_NOTICE and audited, and no second
  decision is audited or delivered; so is the same notice signed again later;
* different content under a decided id is dead-lettered as CONFLICTING_NOTICE;
* a copy under another record key (so on another partition, possibly another gateway's) is
  dead-lettered as RECORD_KEY_MISMATCH;
* after a restart (a new gateway, same topics) the replay is still refused: what was decided
  is read back from `gateway.notices-seen.v1`, not remembered in memory;
* a second gateway replica that takes a partition over from the one that decided a notice
  refuses its replay too;
* a corrected source record (revision 2: a reference, so an id, of its own) is decided.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime as dt
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.partitioner import murmur2

from services.adapters.ingest.mapping import reference_with_revision
from services.gateway.bootstrap import build_gateway
from services.gateway.service import Gateway
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType
from services.hubkit.envelope import KeyDirectory, load_signing_key, seal
from services.hubkit.feed_items import open_feed_message
from services.hubkit.notice import encode_notice, notice_id_for
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, DEADLETTER_TOPIC, Topology
from tests.factories import hub_signed_audit_record, notices
from tests.gateway.integration.helpers import IsolatedBus, collect, wait_until
from tests.gateway.loop_fakes import FakeChildContext

pytestmark = [pytest.mark.kafka, pytest.mark.opa, pytest.mark.timeout(300)]


@contextlib.asynccontextmanager
async def _running(gateway: Gateway) -> AsyncIterator[Gateway]:
    task = asyncio.create_task(gateway.run())
    try:
        yield gateway
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 60)


class _Bus:
    """Produce as the attacker would; read what the gateway wrote."""

    def __init__(self, bus: IsolatedBus, stack: HubSettings, topology: Topology) -> None:
        self.bus = bus
        self.catalog = bus.catalog
        self.topology = topology
        self.police = topology.agency("POLICE")
        self.police_key = load_signing_key(stack.keys_dir, self.police.principal)
        self.hub_keys = KeyDirectory.load(stack.keys_dir / "trusted")
        self.topic = bus.topic(self.police.topic)
        self.producer: AIOKafkaProducer = make_producer(stack, "admin")

    def seal(self, notice: dict[str, Any], at: dt.datetime) -> bytes:
        return seal(self.catalog, encode_notice(self.catalog, notice), self.police_key, at)

    async def produce(self, key: bytes, value: bytes) -> tuple[int, int]:
        sent = await self.producer.send_and_wait(self.topic, value=value, key=key)
        return sent.partition, sent.offset

    def dead_letter_at(self, positions: set[tuple[int, int]]) -> Any:
        def keep(record: ConsumerRecord) -> dict[str, Any] | None:
            letter = self.catalog.decode(record.value, MessageType.DEAD_LETTER)
            where = (letter["source_partition"], letter["source_offset"])
            return letter if letter["source_topic"] == self.topic and where in positions else None

        return keep

    def audited(self, notice_ids: set[str]) -> Any:
        def keep(record: ConsumerRecord) -> dict[str, Any] | None:
            audited = hub_signed_audit_record(self.catalog, record.value, self.hub_keys)
            return audited if audited is not None and audited["notice_id"] in notice_ids else None

        return keep

    def feed_notice_id(self, record: ConsumerRecord) -> str:
        """The notice a feed record is about (a view, or another test's withdrawal of one)."""
        return str(open_feed_message(self.catalog, self.hub_keys, record.value).record["notice_id"])


def _revised(notice: dict[str, Any], revision: int) -> dict[str, Any]:
    """The corrected source record as an adapter maps it: the reference of revision n, hence
    a notice id of its own, with changed content."""
    revised = copy.deepcopy(notice)
    source = revised["source"]
    source["source_reference"] = reference_with_revision(source["source_reference"], revision)
    revised["notice_id"] = notice_id_for(
        agency=source["agency"],
        organisation_code=source["organisation_code"],
        source_reference=source["source_reference"],
    )
    revised["narrative"]["summary"] += " (corrected)"
    return revised


def _partition_of(key: bytes, partitions: int) -> int:
    hashed: int = murmur2(key)  # aiokafka is untyped: murmur2 is Any to mypy
    return (hashed & 0x7FFFFFFF) % partitions


async def test_a_decided_notice_is_never_decided_again(
    stack: HubSettings, topology: Topology
) -> None:
    generator = notices(seed=secrets.randbelow(10**9))
    original = generator.notice("SAFEGUARDING_CONTACT")
    notice_id = str(original["notice_id"])
    key = str(original["subject"]["linkage_key"]).encode()
    subscribers = [s.subscriber_id for s in topology.subscribers]
    now = dt.datetime.now(dt.UTC)

    async with IsolatedBus(stack, topology, label="replay") as isolated:
        bus = _Bus(isolated, stack, topology)
        await bus.producer.start()
        audit = await isolated.reader(AUDIT_TOPIC)
        dead = await isolated.reader(DEADLETTER_TOPIC)
        feeds = {s.subscriber_id: await isolated.reader(s.feed_topic) for s in topology.subscribers}
        settings = isolated.gateway_settings(engine="opa", commit_interval_ms=50)
        try:
            signed = bus.seal(original, now)
            await bus.produce(key, signed)
            attacks: dict[tuple[int, int], str] = {}
            async with _running(build_gateway(stack, settings, child_context=FakeChildContext())):
                decided = await collect(
                    audit, bus.audited({notice_id}), count=len(subscribers), timeout_s=90
                )
                assert {a["event"] for a in decided} == {"SHARING_DECISION"}
                # The attacks, once the original has been decided (and committed).
                conflicting = copy.deepcopy(original)
                conflicting["narrative"]["summary"] = "Replaced by whoever holds the police key."
                other_key = next(
                    k
                    for k in (secrets.token_hex(8).encode() for _ in range(100))
                    if _partition_of(k, 3) != _partition_of(key, 3)
                )
                attacks[await bus.produce(key, signed)] = "DUPLICATE_NOTICE"
                later = bus.seal(original, now + dt.timedelta(minutes=5))
                attacks[await bus.produce(key, later)] = "DUPLICATE_NOTICE"
                attacks[await bus.produce(key, bus.seal(conflicting, now))] = "CONFLICTING_NOTICE"
                attacks[await bus.produce(other_key, signed)] = "RECORD_KEY_MISMATCH"
                letters = await collect(
                    dead, bus.dead_letter_at(set(attacks)), count=len(attacks), timeout_s=60
                )
            # A new gateway on the same topics: nothing in memory, the record is read back.
            async with _running(build_gateway(stack, settings, child_context=FakeChildContext())):
                replayed = await bus.produce(key, signed)
                attacks[replayed] = "DUPLICATE_NOTICE"
                letters += await collect(
                    dead, bus.dead_letter_at({replayed}), count=1, timeout_s=90
                )
                revised = _revised(original, 2)
                revised_id = str(revised["notice_id"])
                await bus.produce(key, bus.seal(revised, now))
                # The attacks' rejections and the revision's decisions; then anything more.
                later_audit = await collect(
                    audit,
                    bus.audited({notice_id, revised_id}),
                    count=len(attacks) + len(subscribers),
                    timeout_s=60,
                )
            later_audit += [
                a
                for r in await audit.drain(quiet_s=1.0)
                if (a := bus.audited({notice_id, revised_id})(r)) is not None
            ]
            delivered = {
                subscriber_id: Counter(
                    bus.feed_notice_id(r) for r in await reader.drain(quiet_s=1.0)
                )
                for subscriber_id, reader in feeds.items()
            }
        finally:
            await bus.producer.stop()

    by_position = {(x["source_partition"], x["source_offset"]): x for x in letters}
    assert {p: by_position[p]["reason"] for p in attacks} == attacks
    assert {x["notice_id"] for x in letters} == {notice_id}
    refused = [a for a in later_audit if a["notice_id"] == notice_id]
    assert {a["event"] for a in refused} == {"NOTICE_REJECTED"}, "decided again"
    assert sorted(a["reason_code"] for a in refused) == sorted(attacks.values())
    # One set of decisions for the original, none more; the revision got its own.
    assert Counter(a["recipient"]["subscriber_id"] for a in decided) == Counter(subscribers)
    revision = [a for a in later_audit if a["notice_id"] == revised_id]
    assert Counter(a["recipient"]["subscriber_id"] for a in revision) == Counter(subscribers)
    assert {a["event"] for a in revision} == {"SHARING_DECISION"}
    for subscriber_id, counts in delivered.items():
        assert counts[notice_id] <= 1, subscriber_id
    assert sum(counts[notice_id] for counts in delivered.values()) >= 1


async def test_a_replica_taking_a_partition_over_refuses_its_replays(
    stack: HubSettings, topology: Topology
) -> None:
    """The second replica read the record when it joined, before the notice was decided by
    the first; only reading it again when it takes the partition over tells it."""
    generator = notices(seed=secrets.randbelow(10**9))
    now = dt.datetime.now(dt.UTC)
    every_partition = 3 * len(topology.agencies)
    async with IsolatedBus(stack, topology, label="replay-replica") as isolated:
        bus = _Bus(isolated, stack, topology)
        await bus.producer.start()
        audit = await isolated.reader(AUDIT_TOPIC)
        dead = await isolated.reader(DEADLETTER_TOPIC)
        settings = isolated.gateway_settings(engine="opa", commit_interval_ms=50)
        first, second = (
            build_gateway(stack, settings, child_context=FakeChildContext()),
            build_gateway(stack, settings, child_context=FakeChildContext()),
        )

        def police(gateway: Gateway) -> set[int]:
            return {tp.partition for tp in gateway._assigned if tp.topic == bus.topic}

        try:
            async with _running(second):
                async with _running(first):
                    assert await wait_until(
                        lambda: (
                            bool(police(first))
                            and bool(police(second))
                            and len(first._assigned) + len(second._assigned) == every_partition
                            and first.health().ready
                            and second.health().ready
                        ),
                        timeout_s=90,
                    ), "the two replicas never shared the partitions"
                    owned = police(first)
                    notice = generator.notice("SAFEGUARDING_CONTACT")
                    while _partition_of(notice["subject"]["linkage_key"].encode(), 3) not in owned:
                        notice = generator.notice("SAFEGUARDING_CONTACT")
                    notice_id = str(notice["notice_id"])
                    key = str(notice["subject"]["linkage_key"]).encode()
                    signed = bus.seal(notice, now)
                    await bus.produce(key, signed)
                    decided = await collect(
                        audit,
                        bus.audited({notice_id}),
                        count=len(topology.subscribers),
                        timeout_s=90,
                    )
                # The first replica left: the second takes its partitions over.
                assert await wait_until(
                    lambda: len(second._assigned) == every_partition and second.health().ready,
                    timeout_s=90,
                ), "the second replica never took the partitions over"
                replayed = await bus.produce(key, signed)
                letters = await collect(dead, bus.dead_letter_at({replayed}), count=1, timeout_s=90)
            again = [a for a in await audit.drain(quiet_s=1.0) if bus.audited({notice_id})(a)]
        finally:
            await bus.producer.stop()
    assert {a["event"] for a in decided} == {"SHARING_DECISION"}
    assert [x["reason"] for x in letters] == ["DUPLICATE_NOTICE"]
    records = [hub_signed_audit_record(bus.catalog, r.value, bus.hub_keys) for r in again]
    assert [a["event"] for a in records if a is not None] == ["NOTICE_REJECTED"]
