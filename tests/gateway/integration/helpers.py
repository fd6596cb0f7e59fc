"""Helpers for the gateway's integration tests on the real broker and OPA.

* `IsolatedBus`: namespaced copies of every gateway topic, created (and deleted) by the admin
  principal, for tests where another gateway in the shared `safehub-gateway` group must not
  take part (e.g. "nothing is delivered while OPA is down" - a concurrent gateway using
  another engine would deliver). The gateway runs there as admin with `namespace` set.
* `Observed`: what reached the audit topic and the feeds, decoded, for a set of notice ids,
  and the exactly-once checks against the decisions the policy gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import NewTopic

from services.gateway.domain.ceiling import enforce_ceiling
from services.gateway.domain.decisions import parse_decisions
from services.gateway.domain.redaction import redact
from services.gateway.engines import DecisionEngine
from services.gateway.errors import EngineUnavailable
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import TopicReader, admin_client, make_producer
from services.hubkit.ceilings import Ceilings
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key
from services.hubkit.feed_items import open_feed_message
from services.hubkit.notice import to_json_value
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.sharing_decisions import SharingDecision
from services.hubkit.topology import Topology, load_topology
from tests.factories import POLICIES, hub_signed_audit_record

__all__ = [
    "IsolatedBus",
    "Observed",
    "collect",
    "drain_into",
    "expected_decisions",
    "metric",
    "publish_real",
    "read_into",
    "wait_until",
]

T = TypeVar("T")


class IsolatedBus:
    def __init__(self, settings: HubSettings, topology: Topology, *, label: str) -> None:
        self.settings = settings
        self.topology = topology
        self.namespace = f"test-{label}-{secrets.token_hex(4)}"
        self.catalog = SchemaCatalog(settings.schemas_dir)
        self._producer: AIOKafkaProducer | None = None
        self._readers: list[TopicReader] = []

    def topic(self, name: str) -> str:
        return f"{self.namespace}.{name}"

    def gateway_settings(self, **overrides: Any) -> GatewaySettings:
        values: dict[str, Any] = {
            "namespace": self.namespace,
            "kafka_principal": "admin",
            "http_port": 0,
            **overrides,
        }
        return GatewaySettings.model_validate(values)

    async def __aenter__(self) -> IsolatedBus:
        admin = admin_client(self.settings)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(self.topic(name), self.topology.partitions(name), 1)
                    for name in self.topology.all_topics
                ],
                timeout_ms=30_000,
            )
        finally:
            await admin.close()
        self._producer = make_producer(self.settings, "admin")
        await self._producer.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for reader in self._readers:
            with contextlib.suppress(Exception):
                await reader.stop()
        if self._producer is not None:
            await self._producer.stop()
        admin = admin_client(self.settings)
        await admin.start()
        try:
            with contextlib.suppress(Exception):
                await admin.delete_topics(
                    [self.topic(name) for name in self.topology.all_topics], timeout_ms=30_000
                )
        finally:
            await admin.close()

    async def reader(self, name: str) -> TopicReader:
        reader = TopicReader(
            self.settings, "admin", self.topic(name), partitions=self.topology.partitions(name)
        )
        await reader.start(from_beginning=True)
        self._readers.append(reader)
        return reader

    async def publish(self, notices: Iterable[dict[str, Any]]) -> list[str]:
        """Sign each notice with its sender's key and write it to the namespaced topic."""
        assert self._producer is not None
        publishers: dict[str, NoticePublisher] = {}
        futures = []
        ids = []
        for notice in notices:
            code = notice["source"]["agency"]
            if code not in publishers:
                agency = self.topology.agency(code)
                publishers[code] = NoticePublisher(
                    producer=self._producer,
                    catalog=self.catalog,
                    agency=agency,
                    signing_key=load_signing_key(self.settings.keys_dir, agency.principal),
                )
            value = publishers[code].seal_notice(notice)
            key = str(notice["subject"]["linkage_key"]).encode()
            topic = self.topic(self.topology.agency(code).topic)
            futures.append(await self._producer.send(topic, value=value, key=key))
            ids.append(str(notice["notice_id"]))
        await asyncio.gather(*futures)
        return ids


async def publish_real(
    settings: HubSettings, topology: Topology, notices: Sequence[dict[str, Any]]
) -> list[str]:
    """Publish to the real notice topics as each agency's adapter principal."""
    catalog = SchemaCatalog(settings.schemas_dir)
    producers: dict[str, AIOKafkaProducer] = {}
    publishers: dict[str, NoticePublisher] = {}
    futures = []
    try:
        for notice in notices:
            code = notice["source"]["agency"]
            if code not in publishers:
                agency = topology.agency(code)
                producers[code] = make_producer(settings, agency.principal)
                await producers[code].start()
                publishers[code] = NoticePublisher(
                    producer=producers[code],
                    catalog=catalog,
                    agency=agency,
                    signing_key=load_signing_key(settings.keys_dir, agency.principal),
                )
            futures.append(await publishers[code].enqueue(notice))
        await asyncio.gather(*futures)
    finally:
        for producer in producers.values():
            await producer.stop()
    return [str(n["notice_id"]) for n in notices]


async def expected_decisions(
    engine: DecisionEngine,
    subscriber_ids: Sequence[str],
    notices: Sequence[dict[str, Any]],
    *,
    concurrency: int = 8,
) -> dict[str, dict[str, SharingDecision]]:
    """What the gateway applies for each notice (notice id -> subscriber -> decision): the
    policy's decision, or the DENY that replaces it when it exceeds the recipient's IG
    ceiling (the repository's ceilings, as the gateway under test loads them).

    The engine is shared with the gateway under test (and other tests): an overloaded OPA
    is asked again rather than failing the test.
    """
    gate = asyncio.Semaphore(concurrency)
    ceilings = Ceilings.load(POLICIES)
    subscribers = {s.subscriber_id: s for s in load_topology(POLICIES).subscribers}

    async def decide(notice: dict[str, Any]) -> tuple[str, dict[str, SharingDecision]]:
        for attempt in range(5):
            try:
                async with gate:
                    answer = await engine.evaluate({"notice": to_json_value(notice)})
                break
            except EngineUnavailable:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
        decisions = parse_decisions(answer.result, subscriber_ids)
        applied = {
            sid: enforce_ceiling(
                decision,
                subscriber=subscribers[sid],
                notice_id=str(notice["notice_id"]),
                notice_type=str(notice["notice_type"]),
                ceilings=ceilings,
                policy_revision=answer.policy_revision,
            )[0]
            for sid, decision in decisions.items()
        }
        return str(notice["notice_id"]), applied

    return dict(await asyncio.gather(*(decide(n) for n in notices)))


@dataclass
class Observed:
    """Audit records and feed items seen for `notice_ids` (others' traffic is ignored)."""

    catalog: SchemaCatalog
    hub_keys: KeyDirectory
    notice_ids: frozenset[str]
    audit: list[dict[str, Any]] = field(default_factory=list)
    feeds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    decided: set[tuple[str, str]] = field(default_factory=set)
    """(notice id, subscriber id) of every SHARING_DECISION audited so far."""

    def add_audit(self, records: Iterable[ConsumerRecord]) -> None:
        for record in records:
            decoded = hub_signed_audit_record(self.catalog, record.value, self.hub_keys)
            if decoded is not None and decoded["notice_id"] in self.notice_ids:
                self.audit.append(decoded)
                if decoded["event"] == "SHARING_DECISION":
                    self.decided.add((decoded["notice_id"], decoded["recipient"]["subscriber_id"]))

    def add_feed(self, subscriber_id: str, records: Iterable[ConsumerRecord]) -> None:
        items = self.feeds.setdefault(subscriber_id, [])
        for record in records:
            message = open_feed_message(self.catalog, self.hub_keys, record.value)
            # A shared feed may also carry another test's withdrawals (FeedRetraction).
            if message.message_type is not MessageType.FEED_ITEM:
                continue
            if message.record["notice_id"] in self.notice_ids:
                items.append(message.record)

    def decided_at(self) -> list[dt.datetime]:
        stamps = [a["decided_at"] for a in self.audit]
        stamps += [i["decided_at"] for items in self.feeds.values() for i in items]
        return stamps

    def assert_exactly_once(
        self,
        expected: dict[str, dict[str, SharingDecision]],
        notices: dict[str, dict[str, Any]],
        *,
        check_views: bool = True,
    ) -> None:
        """Every feed holds exactly the permitted notices, each once; one audit record per
        decision, with the policy's outcome and rule ids."""
        audit_counts = Counter(
            (a["notice_id"], a["recipient"]["subscriber_id"])
            for a in self.audit
            if a["event"] == "SHARING_DECISION"
        )
        wanted = {(n, s) for n, decisions in expected.items() for s in decisions}
        duplicates = {k: c for k, c in audit_counts.items() if c != 1}
        sample = [
            (
                notice_id,
                subscriber_id,
                sorted(
                    a["decided_at"].isoformat()
                    for a in self.audit
                    if (a["notice_id"], a["recipient"]["subscriber_id"])
                    == (notice_id, subscriber_id)
                ),
            )
            for notice_id, subscriber_id in sorted(duplicates)[:3]
        ]
        assert not duplicates, f"{len(duplicates)} decisions audited more than once: {sample}"
        assert set(audit_counts) == wanted, (
            f"audit: {len(wanted - set(audit_counts))} decisions missing, "
            f"{len(set(audit_counts) - wanted)} unexpected"
        )
        for record in self.audit:
            decision = expected[record["notice_id"]][record["recipient"]["subscriber_id"]]
            assert record["outcome"] == decision.outcome.value, record["decision_id"]
            assert record["rule_ids"] == list(decision.rule_ids), record["decision_id"]
            assert record["fields_disclosed"] == (
                sorted(decision.permitted_fields) if decision.discloses else []
            )
        subscribers = {s for decisions in expected.values() for s in decisions}
        for subscriber_id in subscribers:
            items = self.feeds.get(subscriber_id, [])
            counts = Counter(i["notice_id"] for i in items)
            permitted = {n for n, d in expected.items() if d[subscriber_id].discloses}
            twice = [n for n, c in counts.items() if c > 1]
            assert not twice, f"{subscriber_id}: {len(twice)} notices delivered more than once"
            assert set(counts) == permitted, (
                f"{subscriber_id}: {len(permitted - set(counts))} permitted notices missing, "
                f"{len(set(counts) - permitted)} delivered without permission"
            )
            if check_views:
                for item in items:
                    decision = expected[item["notice_id"]][subscriber_id]
                    view = json.loads(item["view_json"])
                    notice = to_json_value(notices[item["notice_id"]])
                    wanted_view = redact(notice, decision.permitted_fields)
                    if (
                        decision.handling_caveat == "OFFICIAL_SENSITIVE"
                        and "classification" in wanted_view
                    ):
                        # R5: the copy is OFFICIAL-SENSITIVE whatever the sender marked.
                        wanted_view["classification"] = "OFFICIAL_SENSITIVE"
                    assert view == wanted_view
                    assert item["outcome"] == decision.outcome.value


async def read_into(
    observed: Observed, audit: TopicReader, *, until: int, timeout_s: float
) -> bool:
    """Read the audit topic until `until` decisions for our notices, or timeout. (The feeds
    commit in the same transactions; drain_into reads them.)"""
    deadline = time.monotonic() + timeout_s
    while len(observed.decided) < until and time.monotonic() < deadline:
        observed.add_audit(await audit.read_until(lambda rs: len(rs) > 0, timeout_s=0.5))
    return len(observed.decided) >= until


async def drain_into(
    observed: Observed, audit: TopicReader, feeds: Mapping[str, TopicReader], *, quiet_s: float
) -> None:
    """Everything that arrives on the audit topic and the feeds until each is quiet."""
    ids = list(feeds)
    drained = await asyncio.gather(
        audit.drain(quiet_s=quiet_s), *(feeds[i].drain(quiet_s=quiet_s) for i in ids)
    )
    observed.add_audit(drained[0])
    for subscriber_id, records in zip(ids, drained[1:], strict=True):
        observed.add_feed(subscriber_id, records)


async def wait_until(predicate: Callable[[], bool], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def metric(registry: Any, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return float(value or 0.0)


async def collect(
    reader: TopicReader,
    keep: Callable[[ConsumerRecord], T | None],
    *,
    count: int,
    timeout_s: float,
) -> list[T]:
    """Read until `count` records pass `keep` (which returns what to keep, or None)."""
    found: list[T] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < count and time.monotonic() < deadline:
        batch = await reader.read_until(lambda rs: len(rs) > 0, timeout_s=0.5)
        found += [kept for record in batch if (kept := keep(record)) is not None]
    return found
