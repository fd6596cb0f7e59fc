"""Issue 18 against the real broker: the console's feed follower reads a FeedRetraction sealed
with the hub's gateway key from the subscriber's feed topic, after the item it withdraws, and
the item leaves the queue, a tombstone stays, and nothing of the item's view is left in the
console's SQLite file: never the view in clear (it is sealed under the child's key; the bytes
are searched for a synthetic marker from the view), and after the withdrawal not even the
sealed item (the bytes are searched for it).

As in test_stored_projection.py: the police researcher's feed (produced with the admin
credential), about a random child, police intelligence received a year ago, so the item joins
no one's decision queue in the other tests that read this shared topic."""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from pathlib import Path

from services.console.domain.projection import Applied
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import load_signing_key, seal
from services.hubkit.retraction import delivery_decision_id, retraction_id_for
from services.hubkit.settings import HubSettings
from services.hubkit.topology import ADMIN_PRINCIPAL, GATEWAY_PRINCIPAL, Topology
from tests.console.integration.test_stored_projection import (
    A_YEAR_AGO,
    SUBSCRIBER,
    _follow_until_caught_up,
    _sealed,
    pytestmark,
)

__all__ = ["pytestmark"]


async def test_a_retraction_read_from_the_feed_deletes_the_item(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    hub_key = load_signing_key(stack.keys_dir, GATEWAY_PRINCIPAL)
    topic = topology.subscriber(SUBSCRIBER).feed_topic
    value, item = _sealed(catalog, hub_key, 0)
    marker = f"Quillon-{secrets.token_hex(6)}"  # synthetic: only this item's view holds it
    item["view_json"] = item["view_json"].replace("{", f'{{"marker":"{marker}",', 1)
    value = seal(catalog, catalog.encode(MessageType.FEED_ITEM, item), hub_key, A_YEAR_AGO)
    notice_id, key = item["notice_id"], bytes.fromhex(item["subject_linkage_key"])
    retraction_id = retraction_id_for(notice_id)
    retraction = {
        "retraction_id": retraction_id,
        "notice_id": notice_id,
        "decision_id": delivery_decision_id(retraction_id=retraction_id, subscriber_id=SUBSCRIBER),
        "subscriber_id": SUBSCRIBER,
        "subject_linkage_key": item["subject_linkage_key"],
        "source_agency": "POLICE",
        "reason": "WRONG_CHILD",
        "replaced_by_notice_id": None,
        "retracted_at": A_YEAR_AGO + dt.timedelta(days=1),
        "delivered_at": A_YEAR_AGO + dt.timedelta(days=1, seconds=1),
    }
    withdrawn = seal(
        catalog,
        catalog.encode(MessageType.FEED_RETRACTION, retraction),
        hub_key,
        A_YEAR_AGO + dt.timedelta(days=1),
    )
    db = tmp_path / "console.sqlite"

    # The item first, as the gateway delivers it: the console holds it, marker and all.
    producer = make_producer(stack, ADMIN_PRINCIPAL)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
        projection, _, database = await _follow_until_caught_up(stack, topology, db, catalog)
        held = projection.get(notice_id)
        assert held is not None
        assert marker in held.view_json
        database.close()
        with sqlite3.connect(db) as raw:
            (sealed,) = raw.execute(
                "SELECT item_sealed FROM feed_entries WHERE notice_id = ?", (notice_id,)
            ).fetchone()
        assert marker.encode() not in _file_bytes(db)  # sealed at rest, never in clear
        assert bytes(sealed) in _file_bytes(db)  # the search below can find the item

        # Then its withdrawal, keyed like it (same partition, after it).
        await producer.send_and_wait(topic, withdrawn, key=key)
    finally:
        await producer.stop()
    changes: list[Applied] = []
    projection, _, database = await _follow_until_caught_up(
        stack, topology, db, catalog, on_change=lambda _, c: changes.append(c.applied)
    )
    try:
        assert Applied.WITHDRAWN in changes
        assert projection.get(notice_id) is None
        assert notice_id not in {e.notice_id for e in projection}
        tombstone = projection.withdrawal(notice_id)
        assert tombstone is not None
        assert tombstone.retraction_id == retraction_id
        assert tombstone.reason == "WRONG_CHILD"
    finally:
        database.close()
    assert marker.encode() not in _file_bytes(db)
    assert bytes(sealed) not in _file_bytes(db)


def _file_bytes(db: Path) -> bytes:
    """The database and whatever write-ahead log and shared memory files it has."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
