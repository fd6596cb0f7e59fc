"""Age bands for published figures (hubkit.age_bands): completed years as English law counts
them, DfE's children in need bands, no band before birth."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from services.hubkit.age_bands import AGE_BAND_LABELS, AGE_BANDS, age_band_on, age_on


def test_a_birthday_counts_on_the_day_not_before() -> None:
    born = dt.date(2012, 5, 17)
    assert age_on(born, dt.date(2026, 5, 16)) == 13
    assert age_on(born, dt.date(2026, 5, 17)) == 14
    assert age_band_on(born, dt.date(2022, 5, 16)) == "5_9"
    assert age_band_on(born, dt.date(2022, 5, 17)) == "10_15"


def test_a_leap_day_child_turns_a_year_older_on_1_march_in_a_common_year() -> None:
    born = dt.date(2012, 2, 29)
    assert age_on(born, dt.date(2013, 2, 28)) == 0
    assert age_on(born, dt.date(2013, 3, 1)) == 1
    assert age_on(born, dt.date(2016, 2, 29)) == 4


def test_the_bands_are_dfe_children_in_need_bands_youngest_first() -> None:
    assert list(AGE_BAND_LABELS.values()) == [
        "Under 1",
        "1 to 4",
        "5 to 9",
        "10 to 15",
        "16 and over",
    ]
    assert age_band_on(dt.date(2026, 1, 1), dt.date(2026, 12, 31)) == "UNDER_1"
    assert age_band_on(dt.date(2010, 1, 1), dt.date(2026, 1, 1)) == "16_PLUS"


def test_no_age_or_band_before_birth() -> None:
    assert age_on(dt.date(2026, 6, 1), dt.date(2026, 5, 31)) is None
    assert age_band_on(dt.date(2026, 6, 1), dt.date(2026, 5, 31)) is None


@given(
    born=st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 12, 31)),
    days=st.integers(min_value=0, max_value=40 * 366),
)
def test_every_age_falls_in_exactly_the_band_named(born: dt.date, days: int) -> None:
    day = born + dt.timedelta(days=days)
    age = age_on(born, day)
    assert age is not None
    assert 0 <= age <= days // 365
    holding = [
        b.code for b in AGE_BANDS if b.youngest <= age and (b.oldest is None or age <= b.oldest)
    ]
    assert holding == [age_band_on(born, day)]
