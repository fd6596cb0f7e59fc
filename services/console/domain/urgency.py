"""Immediate danger out of hours: when the MASH is open, and who acts while it is closed.

DOMAIN.md: "Immediate danger is acted on now: it goes to the out-of-hours emergency duty team
when the MASH is closed, and its deadline is immediate." The policy decides the routing
(rule R1, from the notice's created_at and `mash_hours` in policies/safehub/rules/data.json);
the console reads the same `mash_hours`, so the screen says "the MASH is closed, call the
emergency duty team" at exactly the hours the policy sends immediate danger there. The team's
name and telephone are a local setting (ConsoleSettings.emergency_duty_team_*).

UK local time comes from the tz database (Europe/London); the policy's `summer_time` table
exists only because Rego has no time zones, and gives the same offsets.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from services.console.domain.deadlines import UK, local_time_text

__all__ = [
    "EmergencyDutyTeam",
    "MashHours",
    "OutOfHours",
    "Urgency",
    "mash_hours_from_policy",
    "out_of_hours",
]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAYS_SCANNED = 400  # more than a year closed would be a configuration error


@dataclass(frozen=True, slots=True)
class MashHours:
    """When the MASH is staffed, in UK local time: opening windows by weekday (Monday=0)."""

    windows: Mapping[int, tuple[dt.time, dt.time]]
    closed_dates: frozenset[dt.date] = frozenset()
    zone: str = UK

    def __post_init__(self) -> None:
        if not self.windows:
            raise ValueError("the MASH must be open on at least one weekday")
        for day, (opens, closes) in self.windows.items():
            if day not in range(7) or closes <= opens:
                raise ValueError("each opening window is a weekday 0..6 and opens before it closes")

    def _window(self, day: dt.date) -> tuple[dt.time, dt.time] | None:
        if day in self.closed_dates:
            return None
        return self.windows.get(day.weekday())

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.zone))
        window = self._window(local.date())
        # The same test as the policy's _mash_open: opens <= time < closes.
        return window is not None and window[0] <= local.time().replace(tzinfo=None) < window[1]

    def next_opening(self, at: dt.datetime) -> dt.datetime:
        """When the MASH next opens after `at` (aware, UTC)."""
        tz = ZoneInfo(self.zone)
        local = at.astimezone(tz)
        for offset in range(_DAYS_SCANNED):
            day = local.date() + dt.timedelta(days=offset)
            window = self._window(day)
            if window is None:
                continue
            opens = dt.datetime.combine(day, window[0], tzinfo=tz)
            if opens > local:
                return opens.astimezone(dt.UTC)
        raise ValueError("the MASH never opens: check mash_hours")


def _clock(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def mash_hours_from_policy(mash_hours: Mapping[str, Any]) -> MashHours:
    """`mash_hours` from the policy's rules data (policies/safehub/rules/data.json)."""
    windows = {
        _WEEKDAYS.index(day): (_clock(str(times[0])), _clock(str(times[1])))
        for day, times in mash_hours["open"].items()
    }
    closed = frozenset(dt.date.fromisoformat(str(d)) for d in mash_hours.get("closed_dates", ()))
    return MashHours(windows=windows, closed_dates=closed)


@dataclass(frozen=True, slots=True)
class EmergencyDutyTeam:
    name: str
    telephone: str

    @property
    def text(self) -> str:
        return f"{self.name}, {self.telephone}"


@dataclass(frozen=True, slots=True)
class Urgency:
    """What the console needs to say who acts on immediate danger, and when."""

    hours: MashHours
    duty_team: EmergencyDutyTeam


@dataclass(frozen=True, slots=True)
class OutOfHours:
    """The MASH is closed: shown on every page a MASH role opens."""

    opens_at: dt.datetime
    opens_text: str
    """'09:00 Mon 23 Nov'."""
    duty_team: EmergencyDutyTeam


def out_of_hours(now: dt.datetime, urgency: Urgency) -> OutOfHours | None:
    """None while the MASH is open; otherwise when it opens and whom to call meanwhile."""
    if urgency.hours.is_open(now):
        return None
    opens = urgency.hours.next_opening(now)
    return OutOfHours(opens, local_time_text(opens, now=now), urgency.duty_team)
