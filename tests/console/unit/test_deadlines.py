"""Decision deadlines in working time (DOMAIN.md: one working day; local RAG timescales)."""

from __future__ import annotations

import datetime as dt

import pytest

from services.console.domain.deadlines import (
    DueState,
    Timescales,
    WorkingCalendar,
    decision_due,
    describe_due,
    format_duration,
    local_time_text,
)

UTC = dt.UTC
CAL = WorkingCalendar()


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)  # Nov 2026: UK = UTC


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        (at(18, 10), 4, at(18, 14)),  # Wednesday morning: same day
        (at(18, 15), 4, at(19, 11)),  # crosses the end of the day
        (at(20, 15), 4, at(23, 11)),  # Friday afternoon: Monday
        (at(20, 18), 8, at(23, 17)),  # Friday evening: a full working Monday
        (at(21, 11), 8, at(23, 17)),  # Saturday counts from Monday 09:00
        (at(18, 6), 2, at(18, 11)),  # before opening: counts from 09:00
        (at(18, 9), 24, at(20, 17)),  # three working days
    ],
)
def test_working_time_is_added_inside_working_hours_only(
    start: dt.datetime, hours: float, due: dt.datetime
) -> None:
    assert CAL.add_working_time(start, dt.timedelta(hours=hours)) == due


def test_bank_holidays_are_skipped() -> None:
    calendar = WorkingCalendar(holidays=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)}))
    # Thursday 24 Dec 16:00 + 4h: 1h on Thursday, then Friday 25 and Monday 28 are holidays.
    due = calendar.add_working_time(at(24, 16, month=12), dt.timedelta(hours=4))
    assert due == at(29, 12, month=12)


def test_working_hours_follow_uk_summer_time() -> None:
    # 1 July 2026 is BST (UTC+1): 09:00 local opening is 08:00 UTC.
    start = dt.datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # 08:00 BST, before opening
    assert CAL.add_working_time(start, dt.timedelta(hours=1)) == dt.datetime(
        2026, 7, 1, 9, 0, tzinfo=UTC
    )


def test_a_calendar_without_working_days_is_refused() -> None:
    with pytest.raises(ValueError, match="weekdays"):
        WorkingCalendar(weekdays=frozenset())


def _due(rag: str | None, received: dt.datetime, ts: Timescales | None = None) -> dt.datetime:
    due = decision_due(
        notice_type="SAFEGUARDING_CONTACT",
        rag=rag,
        received_at=received,
        timescales=ts or Timescales(),
        immediate_danger=False,
    )
    assert due is not None
    return due


def test_a_rated_contact_is_due_within_its_rag_timescale_and_amber_and_green_differ() -> None:
    # Issue 16: Amber and Green both capped at one working day read the same. Defaults
    # (DOMAIN.md's ranges): Red 4, Amber 8 (one working day), Green 24 (three) working hours.
    received = at(18, 10)  # Wednesday 10:00
    assert _due("RED", received) == at(18, 14)
    assert _due("AMBER", received) == at(19, 10)
    assert _due("GREEN", received) == at(23, 10)  # Wed 7h + Thu 8h + Fri 8h + Mon 1h
    assert _due("RED", received) < _due("AMBER", received) < _due("GREEN", received)


def test_an_unrated_contact_is_due_within_one_working_day() -> None:
    assert _due(None, at(18, 10)) == at(19, 10)
    half_day = Timescales(contact_working_days=0.5)
    assert _due(None, at(18, 10), half_day) == at(18, 14)


def test_rag_timescales_are_local_settings() -> None:
    ts = Timescales(rag_working_hours={"RED": 2.0, "AMBER": 6.0, "GREEN": 24.0})
    due = decision_due(
        notice_type="MISSING_EPISODE",
        rag="RED",
        received_at=at(18, 10),
        timescales=ts,
        immediate_danger=False,
    )
    assert due == at(18, 12)


def test_information_has_no_decision_deadline() -> None:
    for notice_type in ("CSC_STATUS_CHANGE", "POLICE_INTELLIGENCE", "MASH_DECISION"):
        assert (
            decision_due(
                notice_type=notice_type,
                rag="RED",
                received_at=at(18, 10),
                timescales=Timescales(),
                immediate_danger=False,
            )
            is None
        )


@pytest.mark.parametrize(
    ("received", "rag"),
    [
        (at(18, 10), "RED"),  # in working hours: not even the Red timescale
        (at(18, 10), "GREEN"),  # whatever RAG is suggested
        (at(20, 18), "RED"),  # Friday evening: not Monday
        (at(21, 3), None),  # Saturday night, unrated
    ],
)
def test_immediate_danger_is_due_at_once_not_within_working_time(
    received: dt.datetime, rag: str | None
) -> None:
    due = decision_due(
        notice_type="SAFEGUARDING_CONTACT",
        rag=rag,
        received_at=received,
        timescales=Timescales(),
        immediate_danger=True,
    )
    assert due == received


def test_immediate_danger_on_information_still_needs_no_decision() -> None:
    # Only contacts await a decision; the queue still sorts the item first (views).
    due = decision_due(
        notice_type="POLICE_INTELLIGENCE",
        rag="RED",
        received_at=at(18, 10),
        timescales=Timescales(),
        immediate_danger=True,
    )
    assert due is None


def test_a_deadline_that_has_arrived_reads_now_then_overdue() -> None:
    due = at(20, 18)  # an immediate-danger contact received on Friday evening
    arrived = describe_due(due, now=due)
    assert (arrived.state, arrived.text) == (DueState.OVERDUE, "Due now")
    assert describe_due(due, now=due + dt.timedelta(seconds=40)).text == "Due now"
    later = describe_due(due, now=due + dt.timedelta(minutes=5))
    assert (later.state, later.text) == (DueState.OVERDUE, "Overdue by 5m")


def test_due_states_and_words() -> None:
    due = at(18, 14)
    assert describe_due(due, now=at(18, 10)).state is DueState.ON_TRACK
    assert describe_due(due, now=at(18, 10)).text == "Due in 4h"
    soon = describe_due(due, now=at(18, 13, 25))
    assert (soon.state, soon.text) == (DueState.DUE_SOON, "Due in 35m")
    late = describe_due(due, now=at(18, 15, 20))
    assert (late.state, late.text) == (DueState.OVERDUE, "Overdue by 1h 20m")
    assert late.when == "14:00 today"


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(seconds=30), "under a minute"),
        (dt.timedelta(minutes=12), "12m"),
        (dt.timedelta(hours=3), "3h"),
        (dt.timedelta(hours=3, minutes=5), "3h 5m"),
        (dt.timedelta(days=2, hours=3), "2d 3h"),
        (dt.timedelta(days=-1), "1d"),
    ],
)
def test_durations_read_at_a_glance(delta: dt.timedelta, text: str) -> None:
    assert format_duration(delta) == text


def test_local_times_say_today_tomorrow_or_the_day() -> None:
    now = at(18, 10)
    assert local_time_text(at(19, 9), now=now) == "09:00 tomorrow"
    assert local_time_text(at(23, 17), now=now) == "17:00 Mon 23 Nov"
    assert local_time_text(dt.datetime(2025, 3, 2, 10, tzinfo=UTC), now=now) == "2 Mar 2025, 10:00"
