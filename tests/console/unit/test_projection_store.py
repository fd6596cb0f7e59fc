"""The stored projection: the same answers as the in-memory one, kept across a restart with
the offsets it reflects, and a batch written whole or not at all."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry, entry_from_feed_item
from services.console.domain.projection import Applied, FeedProjection, Projection
from services.console.domain.views import QueueFilter, QueuePage, queue_page
from services.console.domain.views.queue import QueueFilters
from services.console.domain.views.triage import Status, triage_of
from services.console.projection_store import StoredProjection, item_json
from services.hubkit.child_keys import ChildKeys
from services.hubkit.sqlite_store import PrivateSqlite
from tests.console.factories import AGENCIES, NOW, decision, entry

HOUR = dt.timedelta(hours=1)
TOPIC = "feed.mash-manager.v1"
KEYS = ChildKeys(b"console store key, 32 bytes long", store="console")


def _store(path: Path, timescales: Timescales | None = None) -> StoredProjection:
    return StoredProjection(
        PrivateSqlite(path / "console.db"),
        "mash-manager",
        topic=TOPIC,
        timescales=timescales or Timescales(),
        keys=KEYS,
    )


def _mixed_feed(seed: int = 7) -> list[FeedEntry]:
    """Contacts of every kind and risk, flags, information, decisions (some arriving before
    what they cover), redeliveries and a notice decided again."""
    rng = random.Random(seed)
    kinds = ["SAFEGUARDING_CONTACT", "MISSING_EPISODE", "POLICE_INTELLIGENCE", "CSC_STATUS_CHANGE"]
    items: list[FeedEntry] = []
    for n in range(120):
        items.append(
            entry(
                notice_type=rng.choice(kinds),
                risk=rng.choice(["HIGH", "MEDIUM", "LOW", None]),
                immediate_danger=rng.random() < 0.1,
                outcome=rng.choice(["PERMIT", "PERMIT", "PARTIAL", "FLAG_ONLY"]),
                source_agency=rng.choice(["POLICE", "HEALTH", "CHILDRENS_SERVICES"]),
                received_at=NOW - dt.timedelta(minutes=37 * n),
            )
        )
    decisions = [
        decision(*rng.sample(items, 3), rag=rng.choice(["RED", "AMBER", "GREEN"]))
        for _ in range(15)
    ]
    redecided = dataclasses.replace(decisions[0], policy_revision="sha256:newer")
    feed = [*decisions[:5], *items, *decisions[5:], redecided, *rng.sample(items, 10)]
    return feed


def _same_queue(a: Projection, b: Projection) -> None:
    filters = [
        QueueFilters(),
        QueueFilters(rag="RED"),
        QueueFilters(rag="NONE"),
        QueueFilters(agency="HEALTH"),
        QueueFilters(notice_type="MISSING_EPISODE", age_band="5-10"),
    ]
    for show in QueueFilter:
        for wanted in filters:
            for offset, limit in ((0, 50), (7, 5), (0, None)):
                pages = [
                    queue_page(
                        p,
                        now=NOW,
                        timescales=Timescales(),
                        agencies=AGENCIES,
                        show=show,
                        filters=wanted,
                        offset=offset,
                        limit=limit,
                    )
                    for p in (a, b)
                ]
                assert pages[0] == pages[1], (show, wanted, offset, limit)


def _open(projection: Projection, item: FeedEntry) -> bool:
    """Still to act on: awaiting a decision or held elsewhere."""
    status = triage_of(item, projection, Timescales()).status
    return status in (Status.AWAITING, Status.HELD_ELSEWHERE)


def test_an_entry_survives_being_stored() -> None:
    item = entry(risk="HIGH", immediate_danger=True, outcome="PARTIAL", withheld=("referrer",))
    assert entry_from_feed_item(json.loads(item_json(item))) == item


def test_the_stored_queue_is_the_in_memory_queue(tmp_path: Path) -> None:
    memory, stored = FeedProjection("mash-manager"), _store(tmp_path)
    feed = _mixed_feed()
    for item in feed:
        assert stored.apply(item) == memory.apply(item)
    assert len(stored) == len(memory)
    _same_queue(memory, stored)
    for item in feed:
        assert stored.get(item.notice_id) == memory.get(item.notice_id)
        assert stored.decisions_covering(item.notice_id) == memory.decisions_covering(
            item.notice_id
        )
    assert sorted(stored.linkage_keys()) == sorted(memory.linkage_keys())
    keys = [feed[0].linkage_key, feed[-1].linkage_key]
    assert stored.for_keys(keys) == memory.for_keys(keys)
    assert sorted(e.notice_id for e in stored) == sorted(e.notice_id for e in memory)
    in_danger = {e.notice_id for e in stored.in_danger()}
    assert in_danger
    assert in_danger == {e.notice_id for e in memory if e.immediate_danger and _open(memory, e)}


def test_paging_by_position_walks_the_same_queue_as_paging_by_number(tmp_path: Path) -> None:
    # "Next page" carries the last row's position and "Previous page" the first's (keyset
    # paging): walked both ways, in both projections, they give exactly the numbered pages.
    memory, stored = FeedProjection("mash-manager"), _store(tmp_path)
    for item in _mixed_feed(seed=11):
        stored.apply(item)
        memory.apply(item)
    for projection in (memory, stored):
        for show in (QueueFilter.ALL, QueueFilter.AWAITING):

            def page(**at: Any) -> QueuePage:
                return queue_page(
                    projection,  # noqa: B023 - called within this iteration only
                    now=NOW,
                    timescales=Timescales(),
                    agencies=AGENCIES,
                    show=show,  # noqa: B023
                    limit=7,
                    **at,
                )

            by_number: list[QueuePage] = [page(offset=0)]
            while len(by_number[-1].rows) == 7:
                by_number.append(page(offset=7 * len(by_number)))
            rows = [[r.notice_id for r in p.rows] for p in by_number if p.rows]
            assert len(rows) > 3
            walked = [page(offset=0)]
            while walked[-1].last is not None:
                walked.append(page(after=walked[-1].last))
            assert [[r.notice_id for r in p.rows] for p in walked if p.rows] == rows
            back = [by_number[-1] if by_number[-1].rows else by_number[-2]]
            while back[-1].first is not None:
                back.append(page(before=back[-1].first))
            assert [[r.notice_id for r in p.rows] for p in reversed(back) if p.rows] == rows


def test_another_subscribers_item_is_refused(tmp_path: Path) -> None:
    stored = _store(tmp_path)
    change = stored.apply(entry(subscriber_id="mash-police-researcher"))
    assert change.applied is Applied.REFUSED
    assert len(stored) == 0


def test_a_restart_resumes_with_the_same_queue_and_offsets(tmp_path: Path) -> None:
    feed = _mixed_feed()
    memory, stored = FeedProjection("mash-manager"), _store(tmp_path)
    for n in range(0, len(feed), 25):
        batch = feed[n : n + 25]
        memory.apply_all(batch, topic=TOPIC, partition=n % 3, next_offset=n + len(batch))
        stored.apply_all(batch, topic=TOPIC, partition=n % 3, next_offset=n + len(batch))
    offsets = stored.start_offsets(TOPIC)
    reopened = _store(tmp_path)
    assert reopened.start_offsets(TOPIC) == offsets
    assert set(offsets) == {0, 1, 2}
    assert memory.start_offsets(TOPIC) == {}  # in memory: the feed is read from its start
    assert len(reopened) == len(memory)
    _same_queue(memory, reopened)
    in_danger = {e.notice_id for e in stored.in_danger()}
    assert in_danger
    assert {e.notice_id for e in reopened.in_danger()} == in_danger
    # Records read again after the restart (a redelivery) change nothing.
    changes = reopened.apply_all(feed[-25:], topic=TOPIC, partition=0, next_offset=999)
    assert {c.applied for c in changes} == {Applied.UNCHANGED}
    _same_queue(memory, reopened)


def test_a_batch_that_fails_leaves_neither_its_items_nor_its_offset(tmp_path: Path) -> None:
    stored = _store(tmp_path)
    first = entry()
    stored.apply_all([first], topic=TOPIC, partition=0, next_offset=1)
    broken = dataclasses.replace(entry(), lawful_basis=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        stored.apply_all([entry(), broken], topic=TOPIC, partition=0, next_offset=3)
    assert stored.start_offsets(TOPIC) == {0: 1}
    assert len(stored) == 1
    reopened = _store(tmp_path)
    assert [e.notice_id for e in reopened] == [first.notice_id]


def test_a_projection_kept_under_other_timescales_is_rebuilt(tmp_path: Path) -> None:
    stored = _store(tmp_path)
    stored.apply_all([entry(), entry()], topic=TOPIC, partition=0, next_offset=2)
    assert len(_store(tmp_path)) == 2  # same timescales: kept
    other = Timescales(rag_working_hours={"RED": 2.0, "AMBER": 8.0, "GREEN": 24.0})
    rebuilt = _store(tmp_path, other)
    assert len(rebuilt) == 0
    assert rebuilt.start_offsets(TOPIC) == {}  # read from the start again


def test_a_decision_moves_what_it_covers_out_of_the_awaiting_queue(tmp_path: Path) -> None:
    stored = _store(tmp_path)
    contact = entry(risk="MEDIUM", received_at=NOW - 30 * HOUR)
    stored.apply(contact)

    def awaiting() -> list[str]:
        page = queue_page(stored, now=NOW, timescales=Timescales(), agencies=AGENCIES)
        assert page.awaiting == page.total
        return [r.notice_id for r in page.rows]

    assert awaiting() == [contact.notice_id]
    page = queue_page(stored, now=NOW, timescales=Timescales(), agencies=AGENCIES)
    assert page.overdue == 1
    made = decision(contact, rag="GREEN")
    assert stored.apply(made).affected == (contact.notice_id,)
    assert awaiting() == []


def test_a_projection_kept_in_the_layout_before_keyset_paging_is_rebuilt(tmp_path: Path) -> None:
    stored = _store(tmp_path)
    stored.apply_all(_mixed_feed()[:20], topic=TOPIC, partition=0, next_offset=20)
    database = PrivateSqlite(tmp_path / "console.db")
    with database.transaction() as db:  # as PLACE_VERSION 2 kept it: received_ms, not rank
        db.execute("ALTER TABLE feed_entries RENAME COLUMN received_rank TO received_ms")
        db.execute("UPDATE feed_projections SET rules = 'written under version 2'")
    database.close()
    reopened = _store(tmp_path)
    assert len(reopened) == 0
    assert reopened.start_offsets(TOPIC) == {}  # read again from the feed's start
    reopened.apply_all(_mixed_feed()[:20], topic=TOPIC, partition=0, next_offset=20)
    assert len(reopened) == len(stored)
