"""Issue 18 at the console: a FeedRetraction withdraws an item. Both projections (in memory and
stored) delete its content and keep a tombstone, drop it from every queue and count, keep a
tombstone for an item never seen, never store a withdrawn item again, and keep the desk's
first acknowledgement. The pages (fakes for the bus and the identity provider) show the
tombstone and nothing of the content, and the acknowledgement is audited before it stands."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.app import create_app
from services.console.domain.access import Requester
from services.console.domain.consultations import (
    ConsultationPurpose,
    retraction_acknowledged_event,
)
from services.console.domain.deadlines import Timescales
from services.console.domain.projection import Applied, FeedProjection, Projection
from services.console.domain.views.withdrawn import withdrawal_view
from services.console.domain.withdrawals import (
    Acknowledgement,
    Withdrawal,
    withdrawal_from_feed_retraction,
)
from services.console.errors import FeedItemInvalid
from services.console.projection_store import StoredProjection
from services.console.runtime import ConsoleRuntime
from services.console.sessions import SessionStore
from services.console.settings import ConsoleSettings
from services.hubkit.audit_trail import check_console_access
from services.hubkit.child_keys import ChildKeys
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.retraction import delivery_decision_id, retraction_id_for
from services.hubkit.settings import HubSettings
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.app_fakes import PEOPLE, FakeSignIn, Sent, feed_projections, page_runtime
from tests.console.factories import CHILD, NOW, decision, entry

SUBSCRIBER = "mash-manager"
MARK = "Zephyrine"  # a synthetic given name that appears only in the withdrawn item's view


def _retraction(
    notice_id: str,
    *,
    reason: str = "WRONG_CHILD",
    replaced_by: str | None = None,
    subscriber_id: str = SUBSCRIBER,
    linkage_key: str = CHILD,
) -> dict[str, Any]:
    retraction_id = retraction_id_for(notice_id)
    return {
        "retraction_id": retraction_id,
        "notice_id": notice_id,
        "decision_id": delivery_decision_id(
            retraction_id=retraction_id, subscriber_id=subscriber_id
        ),
        "subscriber_id": subscriber_id,
        "subject_linkage_key": linkage_key,
        "source_agency": "HEALTH",
        "reason": reason,
        "replaced_by_notice_id": replaced_by,
        "retracted_at": NOW + dt.timedelta(hours=1),
        "delivered_at": NOW + dt.timedelta(hours=1, seconds=2),
    }


def _withdrawal(notice_id: str, **kw: Any) -> Withdrawal:
    return withdrawal_from_feed_retraction(_retraction(notice_id, **kw))


@pytest.fixture(params=["memory", "stored"])
def projection(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Projection]:
    if request.param == "memory":
        yield FeedProjection(SUBSCRIBER)
        return
    database = PrivateSqlite(tmp_path / "console.sqlite")
    yield StoredProjection(
        database,
        SUBSCRIBER,
        topic="feed.mash-manager",
        timescales=Timescales(),
        keys=ChildKeys(bytes(32), store="console"),
    )
    database.close()


def _apply(projection: Projection, *messages: Any) -> list[Any]:
    return projection.apply_all(list(messages), topic="t", partition=0, next_offset=1)


def test_the_decoded_retraction_is_checked() -> None:
    catalog = SchemaCatalog(HubSettings().schemas_dir)
    record = _retraction(entry().notice_id)
    decoded = catalog.decode(
        catalog.encode(MessageType.FEED_RETRACTION, record), MessageType.FEED_RETRACTION
    )
    withdrawal = withdrawal_from_feed_retraction(decoded)
    assert withdrawal.reason == "WRONG_CHILD"
    assert withdrawal.retracted_at == record["retracted_at"]
    with pytest.raises(FeedItemInvalid):
        withdrawal_from_feed_retraction({**record, "reason": "CHANGED_MY_MIND"})
    with pytest.raises(FeedItemInvalid):
        withdrawal_from_feed_retraction({k: v for k, v in record.items() if k != "notice_id"})


def test_the_backlog_is_the_unacknowledged_oldest_delivery_first(projection: Projection) -> None:
    withdrawn = entry(source_agency="HEALTH", given_name=MARK)
    never_seen = "5d7c9a6e-0b1f-5e2a-9c3d-4e5f6a7b8c9d"  # withdrawn before this console held it
    _apply(projection, withdrawn)
    later = _retraction(withdrawn.notice_id)
    later["delivered_at"] += dt.timedelta(hours=2)
    _apply(projection, withdrawal_from_feed_retraction(later), _withdrawal(never_seen))
    assert [w.notice_id for w in projection.withdrawals_to_acknowledge()] == [
        never_seen,
        withdrawn.notice_id,
    ]
    projection.acknowledge_withdrawal(
        never_seen, Acknowledgement("u-morgan", "Morgan", "MASH_MANAGER", NOW)
    )
    assert [w.notice_id for w in projection.withdrawals_to_acknowledge()] == [withdrawn.notice_id]


def test_a_withdrawn_item_leaves_every_view_and_keeps_a_tombstone(projection: Projection) -> None:
    withdrawn = entry(source_agency="HEALTH", given_name=MARK)
    kept = entry()
    _apply(projection, withdrawn, kept)
    assert len(projection) == 2
    changes = _apply(projection, _withdrawal(withdrawn.notice_id))
    assert [c.applied for c in changes] == [Applied.WITHDRAWN]
    assert changes[0].visible  # open pages re-fetch
    assert projection.get(withdrawn.notice_id) is None
    assert [e.notice_id for e in projection.for_child(CHILD)] == [kept.notice_id]
    assert len(projection) == 1
    assert [e.notice_id for e in projection] == [kept.notice_id]
    if isinstance(projection, StoredProjection):
        page = projection.queue_slice(
            now=NOW,
            statuses=None,
            rag=None,
            agency=None,
            notice_type=None,
            age_band=None,
            offset=0,
            limit=None,
        )
        assert [e.notice_id for e in page.entries] == [kept.notice_id]
        assert page.total == 1
        assert page.awaiting == 1
        assert "HEALTH" not in page.agencies
    tombstone = projection.withdrawal(withdrawn.notice_id)
    assert tombstone is not None
    assert tombstone.acknowledged is None
    assert projection.withdrawals_for_keys([CHILD]) == [tombstone]
    assert projection.withdrawal(kept.notice_id) is None
    # Delivered again (a replay): nothing changes. The item again: never stored again.
    assert [c.applied for c in _apply(projection, _withdrawal(withdrawn.notice_id))] == [
        Applied.UNCHANGED
    ]
    assert [c.applied for c in _apply(projection, withdrawn)] == [Applied.UNCHANGED]
    assert projection.get(withdrawn.notice_id) is None
    # A projection dropped and read again keeps its tombstones.
    projection.forget_feed()
    _apply(projection, withdrawn)
    assert projection.get(withdrawn.notice_id) is None


def test_a_withdrawal_of_an_item_never_seen_is_kept(projection: Projection) -> None:
    notice_id = entry().notice_id  # never applied: before the console's retention, say
    assert [c.applied for c in _apply(projection, _withdrawal(notice_id))] == [Applied.WITHDRAWN]
    assert projection.withdrawal(notice_id) is not None
    assert len(projection) == 0


def test_another_subscribers_withdrawal_is_refused(projection: Projection) -> None:
    item = entry()
    _apply(projection, item)
    other = _withdrawal(item.notice_id, subscriber_id="responsible-la")
    assert [c.applied for c in _apply(projection, other)] == [Applied.REFUSED]
    assert projection.get(item.notice_id) == item


def test_a_withdrawn_decision_leaves_its_contacts_undecided(projection: Projection) -> None:
    contact = entry()
    covering = decision(contact)
    _apply(projection, contact, covering)
    assert projection.decisions_covering(contact.notice_id) == [covering]
    changes = _apply(projection, _withdrawal(covering.notice_id))
    assert changes[0].affected == (contact.notice_id,)
    assert projection.decisions_covering(contact.notice_id) == []


def test_the_first_acknowledgement_of_the_desk_stands(projection: Projection) -> None:
    item = entry()
    _apply(projection, item, _withdrawal(item.notice_id))
    first = Acknowledgement("u-morgan", "Morgan Ashby", "MASH_MANAGER", NOW)
    second = Acknowledgement("u-dana", "Dana Okafor", "MASH_MANAGER", NOW + dt.timedelta(1))
    acknowledged = projection.acknowledge_withdrawal(item.notice_id, first)
    assert acknowledged is not None
    assert acknowledged.acknowledged == first
    again = projection.acknowledge_withdrawal(item.notice_id, second)
    assert again is not None
    assert again.acknowledged == first
    assert projection.acknowledge_withdrawal(entry().notice_id, first) is None


def test_the_tombstone_says_who_withdrew_it_and_why() -> None:
    view = withdrawal_view(_withdrawal(entry().notice_id))
    assert view.headline == "Withdrawn by Health: wrong child"
    assert not view.corrected
    corrected = withdrawal_view(
        _withdrawal(entry().notice_id, reason="CORRECTED", replaced_by=entry().notice_id)
    )
    assert corrected.corrected
    assert corrected.headline == "Withdrawn by Health: corrected, a new record replaces it"


def test_the_acknowledgement_event_is_a_valid_console_access_event() -> None:
    notice_id = entry().notice_id
    event = retraction_acknowledged_event(
        access_id="0b7c8f2e-5a51-4c62-8f0e-2f0d7c1b9a11",
        requester=Requester("u-morgan", ("MASH_MANAGER",), None),
        purpose=ConsultationPurpose.MASH_TRIAGE,
        retraction_id=retraction_id_for(notice_id),
        notice_id=notice_id,
        linkage_key=CHILD,
        source_agency="HEALTH",
        at=NOW,
    )
    check_console_access(event)
    catalog = SchemaCatalog(HubSettings().schemas_dir)
    decoded = catalog.decode(
        catalog.encode(MessageType.CONSOLE_ACCESS, event), MessageType.CONSOLE_ACCESS
    )
    assert decoded["event"] == "RETRACTION_ACKNOWLEDGED"
    assert str(decoded["retraction_id"]) == retraction_id_for(notice_id)
    assert decoded["consultation"]["subject_linkage_key"] == CHILD
    with pytest.raises(Exception, match="retraction"):
        check_console_access({**event, "retraction_id": None})


# -- pages ---------------------------------------------------------------------------------

WITHDRAWN = entry(source_agency="HEALTH", given_name=MARK)
STILL_HERE = entry()


@dataclass
class FlakySent(Sent):
    down: bool = False

    async def record(self, record: Any) -> None:
        if self.down:
            raise ConnectionError("the audit topic cannot be reached")
        await super().record(record)


@dataclass
class Console:
    http: httpx.AsyncClient
    signin: FakeSignIn
    sent: FlakySent
    projections: dict[str, Any]

    async def sign_in(self, who: str) -> None:
        self.signin.next = PEOPLE[who]
        await self.http.get("/login")
        assert (await self.http.get("/auth/callback")).status_code == 303

    async def csrf(self) -> str:
        page = await self.http.get("/queue")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    settings = ConsoleSettings(base_url="http://console.test", issuer="http://idp.test")
    signin, sent = FakeSignIn(), FlakySent()
    projections = feed_projections(settings, (WITHDRAWN, STILL_HERE))
    projections[SUBSCRIBER].apply(_withdrawal(WITHDRAWN.notice_id))

    @contextlib.asynccontextmanager
    async def runtime(sessions: SessionStore) -> AsyncIterator[ConsoleRuntime]:
        yield page_runtime(
            settings,
            sessions,
            projections=projections,
            signin=signin,
            sent=sent,
            consultations=sent,
        )

    app = create_app(HubSettings(), settings, runtime=runtime, clock=lambda: 1_800_000_000.0)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield Console(http, signin, sent, projections)


async def test_the_pages_show_the_tombstone_and_nothing_of_the_notice(console: Console) -> None:
    await console.sign_in("morgan")
    queue = await console.http.get("/queue?show=all")
    assert WITHDRAWN.notice_id not in queue.text
    assert STILL_HERE.notice_id in queue.text
    item = await console.http.get(f"/items/{WITHDRAWN.notice_id}")
    assert item.status_code == 200
    assert "Withdrawn by Health: wrong child" in item.text
    assert MARK not in item.text
    assert "Acknowledge" in item.text
    child = await console.http.get(f"/items/{STILL_HERE.notice_id}")
    handle = re.search(r'href="/children/([^"]+)"', child.text)
    assert handle is not None
    chronology = await console.http.get(f"/children/{handle.group(1)}")
    assert "Withdrawn by Health: wrong child" in chronology.text
    assert MARK not in chronology.text
    # Opening the tombstone is not a consultation of the record (there is none to consult).
    assert not [e for e in console.sent.refusals if e["notice_id"] == WITHDRAWN.notice_id]


async def test_a_child_whose_only_notice_was_withdrawn_opens_on_the_tombstone(
    console: Console,
) -> None:
    alone = entry(source_agency="HEALTH", given_name=MARK, linkage_key="c" * 64)
    console.projections[SUBSCRIBER].apply(alone)
    await console.sign_in("morgan")
    item = await console.http.get(f"/items/{alone.notice_id}")
    handle = re.search(r'href="/children/([^"]+)"', item.text)
    assert handle is not None
    console.projections[SUBSCRIBER].apply(_withdrawal(alone.notice_id, linkage_key="c" * 64))
    chronology = await console.http.get(f"/children/{handle.group(1)}")
    assert chronology.status_code == 200, chronology.text
    assert "Withdrawn by Health: wrong child" in chronology.text
    assert MARK not in chronology.text
    # A link to a child the person never held anything about still opens nothing.
    assert (await console.http.get("/children/not-a-link")).status_code in (403, 404)


async def test_an_acknowledgement_is_audited_before_it_stands(console: Console) -> None:
    await console.sign_in("morgan")
    csrf = await console.csrf()
    address = f"/items/{WITHDRAWN.notice_id}/withdrawal/acknowledge"
    assert (await console.http.post(address, data={"csrf_token": "stale"})).status_code == 403

    console.sent.down = True
    refused = await console.http.post(address, data={"csrf_token": csrf})
    assert refused.status_code == 503
    page = await console.http.get(f"/items/{WITHDRAWN.notice_id}")
    assert "Acknowledged by" not in page.text  # nothing stands without its audit event

    console.sent.down = False
    done = await console.http.post(address, data={"csrf_token": csrf})
    assert done.status_code == 303
    [event] = [e for e in console.sent.refusals if e["event"] == "RETRACTION_ACKNOWLEDGED"]
    assert event["retraction_id"] == retraction_id_for(WITHDRAWN.notice_id)
    assert event["notice_id"] == WITHDRAWN.notice_id
    assert event["feed"]["subscriber_id"] == SUBSCRIBER
    assert event["actor"] == "u-morgan"
    assert event["actor_roles"] == ["MASH_MANAGER"]
    page = await console.http.get(f"/items/{WITHDRAWN.notice_id}")
    assert "Acknowledged by Morgan Ashby (MASH manager)" in page.text
    assert 'action="/items/' + WITHDRAWN.notice_id + '/withdrawal/acknowledge"' not in page.text

    # A colleague at the same desk: the first acknowledgement stands, nothing more is logged.
    await console.sign_in("dana")
    again = await console.http.post(address, data={"csrf_token": await console.csrf()})
    assert again.status_code == 409
    assert "Acknowledged by Morgan Ashby" in again.text
    assert len([e for e in console.sent.refusals if e["event"] == "RETRACTION_ACKNOWLEDGED"]) == 1


async def test_another_desk_cannot_acknowledge(console: Console) -> None:
    await console.sign_in("social")  # reads responsible-la's feed, which never had it
    csrf = await console.csrf()
    answer = await console.http.post(
        f"/items/{WITHDRAWN.notice_id}/withdrawal/acknowledge", data={"csrf_token": csrf}
    )
    assert answer.status_code == 403
    assert (await console.http.get(f"/items/{WITHDRAWN.notice_id}")).status_code == 403
