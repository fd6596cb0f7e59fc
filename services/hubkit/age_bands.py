"""Age bands for published figures about children: one definition for the child index (which
works a child's band out from the date of birth it holds) and the audit service (which labels
and orders the bands in the prevalence figures). Pure.

The bands are those of the Department for Education's Children in Need census tables
(*Characteristics of children in need*: under 1, 1 to 4, 5 to 9, 10 to 15, 16 and over), so
the partnership's figures sit beside the national ones. A child's age is in completed years
on the day asked about (a child born on 29 February is a year older on 1 March in a common
year, as English law counts it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AGE_BANDS", "AGE_BAND_LABELS", "AgeBand", "age_band_on", "age_on"]


@dataclass(frozen=True, slots=True)
class AgeBand:
    code: str
    """What travels between services (e.g. "10_15")."""
    label: str
    """What a reader sees (e.g. "10 to 15")."""
    youngest: int
    oldest: int | None
    """None: no upper bound."""


AGE_BANDS: tuple[AgeBand, ...] = (
    AgeBand("UNDER_1", "Under 1", 0, 0),
    AgeBand("1_4", "1 to 4", 1, 4),
    AgeBand("5_9", "5 to 9", 5, 9),
    AgeBand("10_15", "10 to 15", 10, 15),
    AgeBand("16_PLUS", "16 and over", 16, None),
)
"""Youngest first, the order tables show them in."""

AGE_BAND_LABELS: Mapping[str, str] = {band.code: band.label for band in AGE_BANDS}


def age_on(date_of_birth: dt.date, day: dt.date) -> int | None:
    """Completed years on `day`; None when `day` is before the birth (no age to give)."""
    if day < date_of_birth:
        return None
    years = day.year - date_of_birth.year
    # Not yet had this year's birthday. (29 February: (2, 29) > (2, 28), so the birthday
    # falls on 1 March in a common year.)
    if (day.month, day.day) < (date_of_birth.month, date_of_birth.day):
        years -= 1
    return years


def age_band_on(date_of_birth: dt.date, day: dt.date) -> str | None:
    """The band code of the child's age on `day`; None before the birth."""
    age = age_on(date_of_birth, day)
    if age is None:
        return None
    for band in AGE_BANDS:
        if age >= band.youngest and (band.oldest is None or age <= band.oldest):
            return band.code
    raise AssertionError("the bands cover every age from 0")  # pragma: no cover
