"""Deadlines count working time in the hours the MASH is open (the policy's mash_hours), the
same hours that decide whether the screen names the emergency duty team."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.console.domain.deadlines import WorkingCalendar
from services.console.domain.urgency import MashHours
from services.console.runtime import mash_hours
from services.console.settings import ConsoleSettings
from services.hubkit.settings import HubSettings

UK = ZoneInfo("Europe/London")
HOURS = MashHours(
    windows={
        0: (dt.time(9), dt.time(17)),
        1: (dt.time(9), dt.time(17)),
        2: (dt.time(9), dt.time(17)),
        3: (dt.time(9), dt.time(17)),
        4: (dt.time(9), dt.time(16, 30)),  # Friday: an early close
    },
    closed_dates=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 28)}),
)
CALENDAR = ConsoleSettings().timescales(HOURS).calendar


def test_the_running_console_counts_the_policys_opening_hours() -> None:
    policy = mash_hours(HubSettings())
    calendar = ConsoleSettings().timescales(policy).calendar
    for day in range(7):
        monday = dt.date(2026, 11, 16)
        date = monday + dt.timedelta(days=day)
        assert calendar.hours_on(date) == policy.windows.get(day)
    assert policy.closed_dates <= calendar.holidays


def test_friday_closes_early_so_an_hour_from_four_is_monday_morning() -> None:
    friday_four = dt.datetime(2026, 11, 20, 16, 0, tzinfo=dt.UTC)
    due = CALENDAR.add_working_time(friday_four, dt.timedelta(hours=1))
    assert due == dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.UTC)
    # The settings' uniform 09:00-17:00 day would have said Friday 17:00, an hour the
    # screen calls closed.
    uniform = ConsoleSettings().timescales().calendar
    assert uniform.add_working_time(friday_four, dt.timedelta(hours=1)) == dt.datetime(
        2026, 11, 20, 17, 0, tzinfo=dt.UTC
    )


def test_closed_dates_are_not_working_days() -> None:
    christmas_eve = dt.datetime(2026, 12, 24, 16, 0, tzinfo=dt.UTC)
    due = CALENDAR.add_working_time(christmas_eve, dt.timedelta(hours=2))
    assert due == dt.datetime(2026, 12, 29, 10, 0, tzinfo=dt.UTC)
    assert CALENDAR.working_day == dt.timedelta(hours=8)  # "a working day": the longest


def test_a_calendar_needs_an_open_day() -> None:
    with pytest.raises(ValueError, match="at least one weekday"):
        WorkingCalendar.opening_hours({})


@given(
    start=st.datetimes(
        min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2027, 12, 1), timezones=st.just(UK)
    ),
    minutes=st.integers(min_value=1, max_value=60 * 72),
)
def test_a_deadline_always_falls_while_the_mash_is_open(start: dt.datetime, minutes: int) -> None:
    due = CALENDAR.add_working_time(start, dt.timedelta(minutes=minutes))
    local = due.astimezone(UK)
    hours = CALENDAR.hours_on(local.date())
    assert hours is not None
    opens, closes = hours
    assert opens < local.time().replace(tzinfo=None) <= closes
    assert HOURS.is_open(due - dt.timedelta(seconds=1))  # open in the moment before it
