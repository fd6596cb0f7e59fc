"""A feed followed into the stored projection against the real broker, then followed again
after a restart: the second follower starts at the stored offsets, so it reads only what
arrived since (nothing lost, nothing applied twice), and the queue is the same plus the new
items. Items are sealed with the hub's gateway key, as the gateway writes them, and checked
on the way in (what the follower skips is tested without a broker: this test leaves only
well-formed records on the shared topic).

The items go to the police researcher's feed (produced with the admin credential), about
random children, as police intelligence received a year ago: for information, so they
join no one's decision queue in the other tests that read this shared topic."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry, entry_from_feed_item
from services.console.domain.projection import Change
from services.console.domain.provenance import FieldProvenance, ProvenanceState
from services.console.feeds import FeedFollower
from services.console.projection_store import StoredProjection
from services.gateway.domain.records import feed_item
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import make_producer
from services.hubkit.child_keys import ChildKeys
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, SigningKey, load_signing_key, seal
from services.hubkit.notice import to_json_value
from services.hubkit.settings import HubSettings
from services.hubkit.sharing_decisions import LawfulBasis, SharingDecision, SharingOutcome
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.topology import ADMIN_PRINCIPAL, GATEWAY_PRINCIPAL, Topology
from tests.factories import notices

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

SUBSCRIBER = "mash-police-researcher"
KEYS = ChildKeys(bytes(32), store="console")
A_YEAR_AGO = (dt.datetime.now(dt.UTC) - dt.timedelta(days=365)).replace(microsecond=0)


def _sealed(catalog: SchemaCatalog, key: SigningKey, n: int) -> tuple[bytes, dict[str, Any]]:
    notice = to_json_value(notices(seed=secrets.randbelow(10**9)).notice("POLICE_INTELLIGENCE"))
    notice["subject"]["linkage_key"] = secrets.token_hex(32)
    decision = SharingDecision(
        subscriber_id=SUBSCRIBER,
        outcome=SharingOutcome.PERMIT,
        permitted_fields=("notice_id", "notice_type", "subject.linkage_key", "risk"),
        purpose="SAFEGUARDING_TRIAGE",
        lawful_basis=LawfulBasis("6(1)(e)", None, None, "CA 2004 s11"),
        isa_clause=None,
        rule_ids=("R1",),
        explanation="Synthetic item for the stored projection test.",
    )
    record = feed_item(
        notice=notice,
        decision=decision,
        policy_revision="test",
        envelope_sha256=b"\0" * 32,
        decided_at=A_YEAR_AGO + dt.timedelta(seconds=n),
        relay_contact=GatewaySettings().relay_contact,
        safeguarding_contacts={},
        silent=frozenset(),
    )
    value = seal(catalog, catalog.encode(MessageType.FEED_ITEM, record), key, A_YEAR_AGO)
    return value, record


async def _produce(stack: HubSettings, topic: str, *values: bytes) -> None:
    producer = make_producer(stack, ADMIN_PRINCIPAL)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(topic, value, key=secrets.token_bytes(8))
    finally:
        await producer.stop()


async def _follow_until_caught_up(
    stack: HubSettings,
    topology: Topology,
    db: Path,
    catalog: SchemaCatalog,
    *,
    on_change: Callable[[str, Change], None] = lambda subscriber_id, change: None,
) -> tuple[StoredProjection, FeedFollower, PrivateSqlite]:
    subscriber = topology.subscriber(SUBSCRIBER)
    database = PrivateSqlite(db)
    projection = StoredProjection(
        database, SUBSCRIBER, topic=subscriber.feed_topic, timescales=Timescales(), keys=KEYS
    )
    follower = FeedFollower(
        hub=stack,
        subscriber=subscriber,
        partitions=topology.partitions(subscriber.feed_topic),
        catalog=catalog,
        hub_keys=KeyDirectory.load(stack.keys_dir / "trusted"),
        projection=projection,
        on_change=on_change,
    )
    task = asyncio.create_task(follower.run())
    try:
        await asyncio.wait_for(follower.caught_up.wait(), timeout=90)
    finally:
        follower.stop()
        await asyncio.wait_for(task, timeout=10)
    return projection, follower, database


def _as_projected(record: dict[str, Any]) -> FeedEntry:
    """The entry the follower keeps for `record`: checked for the agency's per-field
    signature on the way in (issue 19); these items carry none."""
    entry = entry_from_feed_item(record)
    return dataclasses.replace(entry, provenance=FieldProvenance(ProvenanceState.NONE))


async def test_a_restart_resumes_at_the_stored_offsets(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    hub_key = load_signing_key(stack.keys_dir, GATEWAY_PRINCIPAL)
    topic = topology.subscriber(SUBSCRIBER).feed_topic
    first = [_sealed(catalog, hub_key, n) for n in range(3)]
    await _produce(stack, topic, *(value for value, _ in first))

    db = tmp_path / "console.db"
    projection, follower, database = await _follow_until_caught_up(stack, topology, db, catalog)
    for _, record in first:
        assert projection.get(record["notice_id"]) == _as_projected(record)
    before = len(projection)
    offsets = projection.start_offsets(topic)
    assert offsets
    assert sum(offsets.values()) >= before  # every record read is reflected
    database.close()

    # While the console is down: three new items and one of the first again (a redelivery).
    later = [_sealed(catalog, hub_key, n) for n in range(3, 6)]
    await _produce(stack, topic, *(value for value, _ in later), first[0][0])

    projection, follower, database = await _follow_until_caught_up(stack, topology, db, catalog)
    try:
        stats = follower.stats
        # Only what arrived since was read: three new and one redelivered. (Other tests may
        # write to the same feed meanwhile: their items count as applied.)
        assert stats.unchanged == 1
        assert 3 <= stats.applied < before
        assert len(projection) == before + stats.applied
        for _, record in [*first, *later]:
            assert projection.get(record["notice_id"]) == _as_projected(record)
        resumed = projection.start_offsets(topic)
        assert sum(resumed.values()) - sum(offsets.values()) >= 4
    finally:
        database.close()


async def test_stored_offsets_past_the_end_mean_the_feed_was_recreated(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    # A console database that remembers a feed whose topic has since been deleted and
    # created again: its offsets are far past the partitions' ends now, and it holds an item
    # the new topic does not. The follower forgets what was kept and reads the feed again.
    catalog = SchemaCatalog(stack.schemas_dir)
    hub_key = load_signing_key(stack.keys_dir, GATEWAY_PRINCIPAL)
    subscriber = topology.subscriber(SUBSCRIBER)
    topic = subscriber.feed_topic
    current = _sealed(catalog, hub_key, 0)
    await _produce(stack, topic, current[0])

    db = tmp_path / "console.db"
    database = PrivateSqlite(db)
    kept = StoredProjection(database, SUBSCRIBER, topic=topic, timescales=Timescales(), keys=KEYS)
    _, gone = _sealed(catalog, hub_key, 1)
    kept.apply_all(
        [entry_from_feed_item(gone)],
        topic=topic,
        partition=0,
        next_offset=10**12,  # read up to here in the old topic
    )
    database.close()

    projection, follower, database = await _follow_until_caught_up(stack, topology, db, catalog)
    try:
        assert projection.get(gone["notice_id"]) is None
        assert projection.get(current[1]["notice_id"]) == _as_projected(current[1])
        assert all(offset < 10**12 for offset in projection.start_offsets(topic).values())
        assert follower.stats.applied >= 1
    finally:
        database.close()
