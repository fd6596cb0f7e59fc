"""The queue: highest risk first, then newest; RAG suggested until the manager rates it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.console.domain.deadlines import DueState, Timescales
from services.console.domain.feed import FeedEntry
from services.console.domain.projection import FeedProjection
from services.console.domain.views import (
    QueueFilter,
    QueueRow,
    Status,
    queue_page,
    queue_rows,
    suggested_rag,
)
from tests.console.factories import AGENCIES, NOW, decision, entry

HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


def _rows(
    *items: FeedEntry, show: QueueFilter = QueueFilter.AWAITING, now: dt.datetime = NOW
) -> list[QueueRow]:
    projection = FeedProjection("mash-manager")
    for item in items:
        projection.apply(item)
    return queue_rows(projection, now=now, timescales=Timescales(), agencies=AGENCIES, show=show)


def test_highest_risk_first_then_newest() -> None:
    green_new = entry(risk="LOW", received_at=NOW)
    amber_old = entry(risk="MEDIUM", received_at=NOW - 3 * HOUR)
    amber_new = entry(risk="MEDIUM", received_at=NOW - HOUR)
    unrated = entry(risk=None, received_at=NOW - 2 * HOUR)
    red_old = entry(risk="HIGH", received_at=NOW - 5 * HOUR)
    danger = entry(risk="LOW", immediate_danger=True, received_at=NOW - 9 * HOUR)
    rows = _rows(green_new, amber_old, amber_new, unrated, red_old, danger)
    assert [r.notice_id for r in rows] == [
        danger.notice_id,  # immediate danger beats everything
        red_old.notice_id,
        amber_new.notice_id,  # Amber and unrated together, newest first:
        unrated.notice_id,  # a withheld risk never sinks an item
        amber_old.notice_id,
        green_new.notice_id,
    ]


def test_suggested_rag_comes_from_the_source_risk() -> None:
    assert suggested_rag(entry(risk="HIGH")) == "RED"
    assert suggested_rag(entry(risk="LOW", immediate_danger=True)) == "RED"
    assert suggested_rag(entry(risk="MEDIUM")) == "AMBER"
    assert suggested_rag(entry(risk="NO_APPARENT_RISK")) == "GREEN"
    assert suggested_rag(entry(risk=None)) is None


def test_a_row_shows_rag_concerns_agency_and_deadline() -> None:
    (row,) = _rows(
        entry(
            risk="HIGH",
            received_at=NOW - HOUR,
            concerns=[{"code": "CHILD_CRIMINAL_EXPLOITATION", "census_factor": "24A"}],
        )
    )
    assert row.rag is not None
    assert (row.rag.text, row.rag.confirmed) == ("Red (suggested)", False)
    assert row.concerns == ("Child criminal exploitation (24A)",)
    assert row.agency == "Police (Synthetic Constabulary)"
    assert row.agency_short == "Police"
    assert row.received_text == "1h ago"
    assert row.due is not None
    assert (row.due.text, row.due.state) == ("Due in 3h", DueState.ON_TRACK)  # Red: 4 working h
    assert row.child_text == "Avery Dunmore, 9"


def test_an_overdue_contact_says_so() -> None:
    (row,) = _rows(entry(risk="MEDIUM", received_at=NOW - dt.timedelta(days=2)))
    assert row.due is not None
    assert row.due.state is DueState.OVERDUE
    assert row.due.text.startswith("Overdue by")


def test_decided_contacts_leave_the_awaiting_queue_and_show_the_confirmed_rag() -> None:
    contact = entry(risk="LOW")
    made = decision(contact, rag="RED")
    assert _rows(contact, made) == []
    rows = {r.notice_id: r for r in _rows(contact, made, show=QueueFilter.ALL)}
    decided = rows[contact.notice_id]
    assert decided.status is Status.DECIDED
    assert decided.status_text == "Decided: Strategy discussion (s47)"
    assert decided.rag is not None
    assert decided.rag.text == "Red"
    assert decided.due is None
    assert rows[made.notice_id].status is Status.DECISION


def test_information_is_not_awaiting_a_decision() -> None:
    update = entry(notice_type="CSC_STATUS_CHANGE", source_agency="CHILDRENS_SERVICES")
    assert _rows(update) == []
    (row,) = _rows(update, show=QueueFilter.ALL)
    assert row.status is Status.FOR_INFORMATION
    assert row.due is None


def test_a_child_whose_name_is_withheld_is_not_guessed() -> None:
    (row,) = _rows(entry(given_name=None, family_name=None))
    assert row.child_text == "Name not shared with you"


def test_the_live_announcement_names_no_one() -> None:
    (row,) = _rows(entry(risk="HIGH"))
    assert row.announcement == "New: Safeguarding contact from Police, Red (suggested)."
    assert "Avery" not in row.announcement


def test_a_page_of_the_queue_counts_everything_but_renders_only_its_rows() -> None:
    projection = FeedProjection("mash-manager")
    # All received in working hours (Wednesday 09:00-10:00), so each has its own deadline.
    items = [entry(risk="MEDIUM", received_at=NOW - i * 10 * MINUTE) for i in range(7)]
    info = entry(notice_type="POLICE_INTELLIGENCE")
    for item in [*items, info]:
        projection.apply(item)
    page = queue_page(
        projection,
        now=NOW,
        timescales=Timescales(),
        agencies=AGENCIES,
        show=QueueFilter.AWAITING,
        offset=3,
        limit=3,
    )
    # Same RAG: the longest waiting is due first (queue order is by deadline).
    oldest_first = list(reversed(items))
    assert [r.notice_id for r in page.rows] == [i.notice_id for i in oldest_first[3:6]]
    assert (page.total, page.awaiting) == (7, 7)
    everything = queue_page(
        projection, now=NOW, timescales=Timescales(), agencies=AGENCIES, show=QueueFilter.ALL
    )
    assert (everything.total, everything.awaiting) == (8, 7)


# ---- immediate danger: due at once ---------------------------------------------------------

FRIDAY_EVENING = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)


def test_immediate_danger_is_due_now_and_first_even_out_of_hours() -> None:
    danger = entry(risk="HIGH", immediate_danger=True, received_at=FRIDAY_EVENING)
    red = entry(risk="HIGH", received_at=FRIDAY_EVENING + dt.timedelta(minutes=1))
    first, second = _rows(danger, red, now=FRIDAY_EVENING + dt.timedelta(minutes=1))
    assert first.notice_id == danger.notice_id
    assert first.due is not None
    assert first.due.due_at == FRIDAY_EVENING  # not 13:00 on Monday
    assert (first.due.state, first.due.text) == (DueState.OVERDUE, "Overdue by 1m")
    assert second.due is not None
    assert second.due.state is DueState.ON_TRACK  # a plain Red contact waits for Monday
    (arrived,) = _rows(danger, now=FRIDAY_EVENING)
    assert arrived.due is not None
    assert arrived.due.text == "Due now"


# ---- R8: an absent episode treated as missing ----------------------------------------------


def _episode(*, risk: str | None = "NO_APPARENT_RISK", r8: bool = True, **kw: Any) -> FeedEntry:
    return entry(
        notice_type="MISSING_EPISODE",
        risk=risk,
        rule_ids=("R1", "R2", "R8") if r8 else ("R1", "R2"),
        concerns=[{"code": "MISSING", "census_factor": "10A"}],
        detail={
            "status": "REPORTED",
            "risk_grade": "NO_APPARENT_RISK",
            "episodes_last_90_days": 3,
        },
        **kw,
    )


def test_an_r8_absent_episode_is_suggested_amber_and_says_why() -> None:
    episode = _episode(received_at=NOW - HOUR)
    green = entry(risk="LOW", received_at=NOW)
    assert suggested_rag(episode) == "AMBER"
    first, second = _rows(green, episode)
    assert first.notice_id == episode.notice_id  # above a Green contact, though older
    assert first.rag is not None
    assert (first.rag.code, first.rag.confirmed) == ("AMBER", False)
    assert first.rag.reason == "absent, treated as missing (R8)"
    assert first.type_label == "Missing episode"
    assert first.due is not None
    assert first.due.text == "Due in 7h"  # Amber's 8 working hours, not the working day
    assert second.rag is not None
    assert second.rag.reason is None


def test_an_absent_episode_the_policy_did_not_mark_r8_stays_green() -> None:
    episode = _episode(r8=False)
    assert suggested_rag(episode) == "GREEN"
    (row,) = _rows(episode)
    assert row.rag is not None
    assert row.rag.reason is None


def test_r8_never_lowers_a_suggestion_and_lifts_an_unseen_risk() -> None:
    assert suggested_rag(_episode(risk="HIGH")) == "RED"
    (row,) = _rows(_episode(risk="HIGH"))
    assert row.rag is not None
    assert row.rag.reason == "absent, treated as missing (R8)"  # the grade still says absent
    assert suggested_rag(_episode(risk=None)) == "AMBER"  # no visible risk: still Amber
