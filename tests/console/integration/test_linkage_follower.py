"""The console's linkage follower against the real broker: LINKAGE_CHANGED records on
`childindex.linkage.v1` (produced here with the admin credential, as the child index would)
are read as the `console` principal, from the beginning, and regroup the children. The keys
are random, so the changes this test leaves on the shared topic touch no other child; it
writes only well-formed records (what the follower skips is tested without a broker)."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import uuid
from typing import Any

import pytest

from services.console.domain.linkage import ChildAliases
from services.console.linkage_feed import LinkageFollower
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.settings import HubSettings
from services.hubkit.topology import ADMIN_PRINCIPAL, LINKAGE_TOPIC, Topology
from tests.integration.bus import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]


def _change(kind: str, child: str, *others: str) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": kind,
        "child_key": child,
        "other_keys": list(others),
        "decided_by": "u-synthetic-manager",
        "review_id": "rev-test",
        "match_probability": 0.7,
        "occurred_at": dt.datetime.now(dt.UTC),
    }


async def _produce(stack: HubSettings, catalog: SchemaCatalog, *changes: dict[str, Any]) -> None:
    producer = make_producer(stack, ADMIN_PRINCIPAL)
    await producer.start()
    try:
        for change in changes:
            value = catalog.encode(MessageType.LINKAGE_CHANGED, change)
            await producer.send_and_wait(LINKAGE_TOPIC, value, key=change["child_key"].encode())
    finally:
        await producer.stop()


async def test_merges_and_splits_on_the_bus_regroup_children(
    stack: HubSettings, topology: Topology
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    left, right, third = (secrets.token_hex(32) for _ in range(3))
    merge = _change("MERGE", left, right)
    await _produce(stack, catalog, merge)

    aliases, regrouped = ChildAliases(), list[frozenset[str]]()
    follower = LinkageFollower(
        hub=stack,
        catalog=catalog,
        aliases=aliases,
        partitions=topology.partitions(LINKAGE_TOPIC),
        on_change=regrouped.append,
    )
    task = asyncio.create_task(follower.run())
    try:
        await asyncio.wait_for(follower.caught_up.wait(), timeout=60)
        assert aliases.group_of(right) == {left, right}  # read from the beginning
        assert aliases.surviving_key(right) == left

        # Later changes arrive live, in order; a repeated event changes nothing.
        await _produce(stack, catalog, _change("MERGE", left, third), merge)
        assert await wait_for(lambda: third in aliases.group_of(left), timeout_s=30)
        await _produce(stack, catalog, _change("SPLIT", left, right))
        assert await wait_for(lambda: aliases.group_of(right) == {right}, timeout_s=30)
        assert aliases.group_of(left) == {left, third}
        assert frozenset({left, right}) in regrouped
    finally:
        follower.stop()
        await asyncio.wait_for(task, timeout=10)
