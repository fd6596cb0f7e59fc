"""Access notifications through the outbox: sent once, retried until acknowledged, and a
backlog never delays a clinician's answer."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from services.cpis.domain.access import Access, AccessOutcome
from services.cpis.domain.notification import NotificationOrigin, access_notices
from services.cpis.domain.register import Plan, PlanType
from services.cpis.domain.requests import UnscheduledSetting
from services.cpis.notifier import AccessNotifier
from services.cpis.store import OutboxItem, SqliteRegisterStore
from services.hubkit.child_keys import ChildKeys
from services.hubkit.notice import encode_notice
from tests.cpis.factories import LA, NHS_NUMBER, plan_change
from tests.factories import catalog

CATALOG = catalog()
PLAN = Plan(
    plan_type=PlanType.CHILD_PROTECTION_PLAN,
    start=dt.date(2026, 6, 1),
    end=None,
    responsible_la=LA,
    la_contact="Duty social worker, Synthetic Borough Children's Services, 0300 000 0004",
    linkage_key="k" * 64,
    recorded_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
)


class Sink:
    def __init__(self) -> None:
        self.published: list[str] = []
        self.hang: set[str] = set()

    async def publish(self, notice: Mapping[str, Any]) -> str:
        notice_id = str(notice["notice_id"])
        if notice_id in self.hang:
            await asyncio.Event().wait()  # a broker that never answers
        self.published.append(notice_id)
        return notice_id


def _outbox(store: SqliteRegisterStore, access_id: str) -> list[OutboxItem]:
    access = Access(
        access_id=access_id,
        at=dt.datetime(2026, 11, 20, 23, 0, tzinfo=dt.UTC),
        actor="clinician",
        organisation="NHS-RXX00",
        setting=UnscheduledSetting.ED,
        outcome=AccessOutcome.HIT,
    )
    (notice,) = access_notices(
        access=access,
        held=(PLAN,),
        nhs_number=NHS_NUMBER,
        origin=NotificationOrigin("CPIS", "CPIS-REGISTER"),
        contact_point={"role": "r", "organisation": "o", "telephone": "t", "secure_email": None},
    )
    items = [(str(notice["notice_id"]), encode_notice(CATALOG, notice))]
    store.record_access(access, nhs_number=NHS_NUMBER, outbox=items)
    return items


@pytest.fixture
def store(tmp_path: Path) -> SqliteRegisterStore:
    store = SqliteRegisterStore(tmp_path / "r.db", ChildKeys(b"s" * 32, store="cpis"))
    store.apply(plan_change(), now_ms=0)
    return store


async def test_a_backlog_never_delays_a_new_lookups_notification(
    store: SqliteRegisterStore,
) -> None:
    sink = Sink()
    notifier = AccessNotifier(sink=sink, store=store, catalog=CATALOG, timeout_s=60)
    (stuck,) = _outbox(store, "old")
    sink.hang.add(stuck[0])
    retrying = asyncio.create_task(notifier.retry_pending())
    await asyncio.sleep(0.05)  # the retry loop is now waiting on the stuck notice
    fresh = _outbox(store, "new")
    assert await asyncio.wait_for(notifier.deliver(fresh), timeout=2)
    assert sink.published == [fresh[0][0]]
    retrying.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await retrying


async def test_an_acknowledged_notice_is_not_sent_again_from_a_stale_snapshot(
    store: SqliteRegisterStore,
) -> None:
    sink = Sink()
    notifier = AccessNotifier(sink=sink, store=store, catalog=CATALOG)
    items = _outbox(store, "a")
    assert await notifier.deliver(items)
    assert store.pending_notifications(limit=10) == []
    assert await notifier.deliver(items)  # e.g. the retry loop's snapshot from before
    assert sink.published == [items[0][0]]


async def test_an_unacknowledged_notice_stays_and_is_retried(store: SqliteRegisterStore) -> None:
    sink = Sink()
    notifier = AccessNotifier(sink=sink, store=store, catalog=CATALOG, timeout_s=0.05)
    items = _outbox(store, "b")
    sink.hang.add(items[0][0])
    assert not await notifier.deliver(items)
    assert store.pending_notifications(limit=10) == items
    sink.hang.clear()
    await notifier.retry_pending()
    assert sink.published == [items[0][0]]
    assert store.pending_notifications(limit=10) == []
