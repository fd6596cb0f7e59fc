"""Decision deadlines in working time, and how to say them.

DOMAIN.md: a contact is RAG rated on local timescales (e.g. Red 2-4 working hours, Amber
6-24, Green 24-72) and the manager decides within one working day. Here a rated contact's
decision is due after its RAG timescale of working time from when the hub released it to
the MASH (defaults Red 4, Amber 8, Green 24 working hours: with a 09:00-17:00 day, Red the
same half-day, Amber one working day, Green three), so Amber and Green deadlines differ; a
contact nobody can rate (its risk withheld) is due within one working day. Capping Green at
one working day, as this once did, made Amber and Green read the same and the RAG pointless.
Timescales are local policy, so they are settings (services/console/settings.py), not
constants. Working time is when the MASH is open: the running console takes its hours and
closed dates from the sharing policy's `mash_hours` (the same hours that decide whether the
emergency duty team is named: `WorkingCalendar.opening_hours`), so a deadline never falls in
an hour the screen calls "closed"; the settings' working day is used only without a policy.

Working time only runs inside working hours: a contact arriving at 18:00 on a Friday with a
one-working-day deadline is due at 17:00 on Monday.

Immediate danger is the exception (DOMAIN.md, "Immediate danger is acted on now"): its
deadline is immediate, not the next working day and not the Red timescale, so a contact in
immediate danger is due the moment the MASH receives it, whatever the hour, and shows as
due now (then overdue) from the start. Out of hours the hub also routes it to the emergency
duty team; the queue still shows it first.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

__all__ = [
    "DueState",
    "DueView",
    "Timescales",
    "WorkingCalendar",
    "decision_due",
    "describe_age",
    "describe_due",
    "format_duration",
    "local_time_text",
]

UK = "Europe/London"
_MAX_DAYS_SCANNED = 3660  # a decade of holidays would be a configuration error


def _minutes(at: dt.time) -> int:
    return at.hour * 60 + at.minute


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    zone: str = UK
    day_start: dt.time = dt.time(9, 0)
    day_end: dt.time = dt.time(17, 0)
    weekdays: frozenset[int] = frozenset(range(5))  # Monday=0 .. Friday=4
    holidays: frozenset[dt.date] = frozenset()
    windows: tuple[tuple[int, dt.time, dt.time], ...] = ()
    """(weekday, opens, closes) when the hours differ by day (the MASH's own hours, from the
    policy: `opening_hours`); empty: day_start to day_end on each of `weekdays`."""

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError("working weekdays must be a non-empty subset of 0..6")
        if self.day_end <= self.day_start:
            raise ValueError("the working day must end after it starts")
        for day, opens, closes in self.windows:
            if day not in range(7) or closes <= opens:
                raise ValueError("each opening window is a weekday 0..6 and opens before it closes")

    @staticmethod
    def opening_hours(
        windows: Mapping[int, tuple[dt.time, dt.time]],
        *,
        holidays: frozenset[dt.date] = frozenset(),
        zone: str = UK,
    ) -> WorkingCalendar:
        """Working time is when the MASH is open (the same hours that decide whether the
        emergency duty team is named); "a working day" is its longest day."""
        if not windows:
            raise ValueError("the MASH must be open on at least one weekday")
        opens, closes = max(windows.values(), key=lambda w: _minutes(w[1]) - _minutes(w[0]))
        return WorkingCalendar(
            zone=zone,
            day_start=opens,
            day_end=closes,
            weekdays=frozenset(windows),
            holidays=holidays,
            windows=tuple(sorted((d, o, c) for d, (o, c) in windows.items())),
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def working_day(self) -> dt.timedelta:
        """How long "one working day" is (a deadline in working days)."""
        return dt.timedelta(minutes=_minutes(self.day_end) - _minutes(self.day_start))

    def hours_on(self, day: dt.date) -> tuple[dt.time, dt.time] | None:
        """When working time runs on `day`; None on a day off."""
        if day in self.holidays:
            return None
        if self.windows:
            return next(((o, c) for d, o, c in self.windows if d == day.weekday()), None)
        return (self.day_start, self.day_end) if day.weekday() in self.weekdays else None

    def is_working_day(self, day: dt.date) -> bool:
        return self.hours_on(day) is not None

    def add_working_time(self, start: dt.datetime, duration: dt.timedelta) -> dt.datetime:
        """`start` plus `duration` of working time, as an aware UTC datetime."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        tz = self.tz
        cursor = start.astimezone(tz).replace(tzinfo=None)  # local wall-clock time
        remaining = duration
        for _ in range(_MAX_DAYS_SCANNED):
            day = cursor.date()
            hours = self.hours_on(day)
            if hours is not None and cursor < dt.datetime.combine(day, hours[1]):
                cursor = max(cursor, dt.datetime.combine(day, hours[0]))
                available = dt.datetime.combine(day, hours[1]) - cursor
                if remaining <= available:
                    return (cursor + remaining).replace(tzinfo=tz).astimezone(dt.UTC)
                remaining -= available
            cursor = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0, 0))
        raise ValueError("no working time found: check the working calendar")


@dataclass(frozen=True, slots=True)
class Timescales:
    """When a decision is due: local RAG timescales and which notice types are contacts."""

    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    rag_working_hours: Mapping[str, float] = field(
        default_factory=lambda: {"RED": 4.0, "AMBER": 8.0, "GREEN": 24.0}
    )
    contact_working_days: float = 1.0
    """The deadline of a contact with no RAG (its risk withheld or not given)."""
    contact_types: frozenset[str] = frozenset(
        {
            "SAFEGUARDING_CONTACT",
            "DOMESTIC_ABUSE_INCIDENT",
            "MISSING_EPISODE",
            "EXPLOITATION_CONCERN",
            "TRAFFICKING_NRM",
            "HEALTH_SAFEGUARDING_ALERT",
        }
    )


def decision_due(
    *,
    notice_type: str,
    rag: str | None,
    received_at: dt.datetime,
    timescales: Timescales,
    immediate_danger: bool,
) -> dt.datetime | None:
    """When the MASH decision on this notice is due; None when it is not a contact."""
    if notice_type not in timescales.contact_types:
        return None
    if immediate_danger:
        # Due at once: no working-hours arithmetic, which would push a Friday-night
        # emergency to Monday morning.
        return received_at
    if rag is not None and rag in timescales.rag_working_hours:
        limit = dt.timedelta(hours=timescales.rag_working_hours[rag])
    else:
        limit = timescales.calendar.working_day * timescales.contact_working_days
    return _add_working_time(timescales.calendar, received_at, limit)


@functools.lru_cache(maxsize=65536)
def _add_working_time(
    calendar: WorkingCalendar, start: dt.datetime, duration: dt.timedelta
) -> dt.datetime:
    # The queue orders every awaiting contact by its deadline on each render; a deadline
    # never changes, so each is worked out once (the calendar and inputs are immutable).
    return calendar.add_working_time(start, duration)


def format_duration(delta: dt.timedelta) -> str:
    """Whole units a person reads at a glance: '2d 3h', '3h 5m', '12m', 'under a minute'."""
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 1:
        return "under a minute"
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def local_time_text(at: dt.datetime, *, now: dt.datetime, zone: str = UK) -> str:
    """'14:30 today', '09:00 tomorrow', '10:00 Mon 23 Nov' or '18 Nov 2025, 10:00'."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    today = now.astimezone(tz).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return f"{clock} today"
    if local.date() == today + dt.timedelta(days=1):
        return f"{clock} tomorrow"
    if local.date() == today - dt.timedelta(days=1):
        return f"{clock} yesterday"
    if local.year == today.year:
        return f"{clock} {local.strftime('%a')} {local.day} {local.strftime('%b')}"
    return f"{local.day} {local.strftime('%b %Y')}, {clock}"


class DueState(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due-soon"
    ON_TRACK = "on-track"


@dataclass(frozen=True, slots=True)
class DueView:
    due_at: dt.datetime
    state: DueState
    text: str
    """'Overdue by 1h 20m' / 'Due now' / 'Due in 35m': what the queue shows."""
    when: str
    """The local time it is due, e.g. '17:00 Mon 23 Nov'."""


def describe_due(
    due_at: dt.datetime, *, now: dt.datetime, soon: dt.timedelta = dt.timedelta(hours=1)
) -> DueView:
    remaining = due_at - now
    if remaining <= dt.timedelta(0):
        # Within its first minute a deadline that has arrived reads 'now' rather than
        # 'overdue by under a minute': what an immediate-danger contact shows on arrival.
        late = -remaining >= dt.timedelta(minutes=1)
        text = f"Overdue by {format_duration(remaining)}" if late else "Due now"
        state = DueState.OVERDUE
    else:
        state = DueState.DUE_SOON if remaining <= soon else DueState.ON_TRACK
        text = f"Due in {format_duration(remaining)}"
    return DueView(due_at, state, text, local_time_text(due_at, now=now))


def describe_age(received_at: dt.datetime, *, now: dt.datetime) -> str:
    return f"{format_duration(now - received_at)} ago"
