"""Issue 18 against the real broker: the hub's answers about emergency access, sealed with
the hub's gateway key and produced on a desk's feed as the gateway writes them (a
BreakGlassRefusal on the desk that asked, a BreakGlassAlert on the owning agency's alert
desk), are read by the console's feed follower into its store (sealed at rest: the bytes are
searched for a synthetic marker) and reach its pages: the person who asked is told of the
refusal on the notice's page, and the alert desk's list shows the alert.

As in test_stored_projection.py: the police researcher's feed (produced with the admin
credential), about a random child, dated a year ago, so nothing joins anyone's queue in the
other tests that read this shared topic."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import secrets
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from services.console.app import create_app
from services.console.break_glass import BreakGlassGrants
from services.console.domain.deadlines import Timescales
from services.console.domain.feed import entry_from_feed_item
from services.console.feeds import FeedFollower
from services.console.projection_store import StoredProjection
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.bus import make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, seal
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from services.hubkit.topology import ADMIN_PRINCIPAL, GATEWAY_PRINCIPAL, Topology
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.break_glass_items import RULES, alert_record, refusal_record
from tests.console.integration.test_stored_projection import (
    A_YEAR_AGO,
    KEYS,
    SUBSCRIBER,
    _sealed,
    pytestmark,
)

__all__ = ["pytestmark"]


async def _follow(
    stack: HubSettings, topology: Topology, database: PrivateSqlite, catalog: SchemaCatalog
) -> tuple[StoredProjection, BreakGlassGrants]:
    subscriber = topology.subscriber(SUBSCRIBER)
    projection = StoredProjection(
        database, SUBSCRIBER, topic=subscriber.feed_topic, timescales=Timescales(), keys=KEYS
    )
    grants = BreakGlassGrants(database, KEYS)
    follower = FeedFollower(
        hub=stack,
        subscriber=subscriber,
        partitions=topology.partitions(subscriber.feed_topic),
        catalog=catalog,
        hub_keys=KeyDirectory.load(stack.keys_dir / "trusted"),
        projection=projection,
        on_change=lambda subscriber_id, change: None,
        grants=grants,
    )
    task = asyncio.create_task(follower.run())
    try:
        await asyncio.wait_for(follower.caught_up.wait(), timeout=90)
    finally:
        follower.stop()
        await asyncio.wait_for(task, timeout=10)
    return projection, grants


async def test_a_refusal_and_an_alert_on_the_feed_reach_the_store_and_the_pages(
    stack: HubSettings, topology: Topology, tmp_path: Path
) -> None:
    catalog = SchemaCatalog(stack.schemas_dir)
    hub_key = load_signing_key(stack.keys_dir, GATEWAY_PRINCIPAL)
    topic = topology.subscriber(SUBSCRIBER).feed_topic
    value, item = _sealed(catalog, hub_key, 0)
    notice_id, child = item["notice_id"], item["subject_linkage_key"]
    marker = f"Quillon-{secrets.token_hex(6)}"  # synthetic: only the answers hold it
    request_id = str(uuid.uuid4())
    desk = entry_from_feed_item(item)  # the desk's item the answers are about
    refusal = refusal_record(
        desk,
        request_id=request_id,
        requester_subject=PEOPLE["researcher"]["sub"],
        refused_at=A_YEAR_AGO + dt.timedelta(minutes=2),
        explanation=f"Synthetic refusal {marker}: only a MASH manager may ask.",
    )
    alert = alert_record(
        desk,
        alert_desk=SUBSCRIBER,
        granted_at=A_YEAR_AGO + dt.timedelta(minutes=3),
        justification=f"Synthetic: {marker} is in the emergency department now.",
    )
    alert["granted_to_subscriber_id"] = "mash-manager"
    records = [
        value,
        seal(
            catalog,
            catalog.encode(MessageType.BREAK_GLASS_REFUSAL, refusal),
            hub_key,
            A_YEAR_AGO,
        ),
        seal(catalog, catalog.encode(MessageType.BREAK_GLASS_ALERT, alert), hub_key, A_YEAR_AGO),
    ]
    producer = make_producer(stack, ADMIN_PRINCIPAL)
    await producer.start()
    try:
        for record in records:  # keyed by the child: one partition, in order
            await producer.send_and_wait(topic, record, key=bytes.fromhex(child))
    finally:
        await producer.stop()

    db = tmp_path / "console.sqlite"
    database = PrivateSqlite(db)
    try:
        projection, grants = await _follow(stack, topology, database, catalog)
        held = projection.get(notice_id)
        assert held is not None
        (kept_refusal,) = grants.refusals_for(SUBSCRIBER, notice_id)
        assert kept_refusal.request_id == request_id
        alerts = [a for a in grants.alerts_for(SUBSCRIBER) if a.notice_id == notice_id]
        assert [a.alert_id for a in alerts] == [alert["alert_id"]]
        assert marker.encode() not in _file_bytes(db)  # sealed at rest, never in clear

        settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
        projections = feed_projections(settings, (held,))
        signin, sent = FakeSignIn(), Sent()

        @contextlib.asynccontextmanager
        async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
            yield page_runtime(
                settings,
                sessions,
                projections=projections,
                signin=signin,
                sent=sent,
                clock=lambda: A_YEAR_AGO + dt.timedelta(minutes=5),
                break_glass_rules=RULES,
                break_glass=sent,
                grants=grants,
            )

        app = create_app(HubSettings(), settings, runtime=runtime)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://console.test"
            ) as http:
                signin.next = PEOPLE["researcher"]
                await http.get("/login")
                assert (await http.get("/auth/callback")).status_code == 303
                page = html.unescape((await http.get(f"/items/{notice_id}")).text)
                assert f"was refused: Synthetic refusal {marker}" in page
                listed = html.unescape((await http.get("/break-glass/alerts")).text)
                assert f"Synthetic: {marker} is in the emergency department now." in listed
                assert "MASH manager at the MASH manager desk (LA-E09000099)" in listed
    finally:
        database.close()


def _file_bytes(db: Path) -> bytes:
    """The database and whatever write-ahead log and shared memory files it has."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
