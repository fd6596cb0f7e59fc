"""What the linkage follower does with each record it reads (no broker: the records are made
here; tests/console/integration runs it against the real one)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from aiokafka import ConsumerRecord

from services.console.domain.linkage import ChildAliases
from services.console.domain.projection import Applied, Change
from services.console.feeds import ChangeHub
from services.console.linkage_feed import LinkageFollower
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.topology import LINKAGE_TOPIC

CATALOG = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
LEFT, RIGHT = "e" * 64, "f" * 64


def _record(value: bytes, offset: int) -> ConsumerRecord[Any, Any]:
    return ConsumerRecord(
        topic=LINKAGE_TOPIC,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=None,
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=(),
    )


def _merge(event_id: str, *others: str) -> bytes:
    return CATALOG.encode(
        MessageType.LINKAGE_CHANGED,
        {
            "event_id": event_id,
            "kind": "MERGE",
            "child_key": LEFT,
            "other_keys": list(others),
            "decided_by": "childindex-model",
            "review_id": None,
            "match_probability": 0.99,
            "occurred_at": dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
        },
    )


def test_each_record_is_applied_skipped_or_unchanged() -> None:
    regrouped: list[frozenset[str]] = []
    follower = LinkageFollower(
        hub=HubSettings(),
        catalog=CATALOG,
        aliases=ChildAliases(),
        partitions=1,
        on_change=regrouped.append,
    )
    merge = _merge(str(uuid.uuid4()), RIGHT)
    for offset, value in enumerate(
        [
            b"not avro",
            CATALOG.encode(MessageType.LINKAGE_CHANGED, {**_fields(), "other_keys": [LEFT]}),
            merge,
            merge,  # the same event again
        ]
    ):
        follower._apply(_record(value, offset))
    assert (follower.stats.skipped, follower.stats.applied, follower.stats.unchanged) == (2, 1, 1)
    assert regrouped == [frozenset({LEFT, RIGHT})]
    assert follower.aliases.group_of(RIGHT) == {LEFT, RIGHT}


def _fields() -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "kind": "SPLIT",
        "child_key": LEFT,
        "other_keys": [RIGHT],
        "decided_by": "u-manager",
        "review_id": "rev-1",
        "match_probability": None,
        "occurred_at": dt.datetime(2026, 11, 18, tzinfo=dt.UTC),
    }


async def test_a_regrouping_reaches_every_feeds_open_pages() -> None:
    changes = ChangeHub()
    async with changes.listen("mash-manager") as manager, changes.listen("responsible-la") as la:
        changes.publish_everyone(Change(Applied.LINKED, "", LEFT))
        assert (await manager.get()).linkage_key == LEFT
        assert (await la.get()).applied is Applied.LINKED
