"""What the child index tells the prevalence figures (demographics.py): a band and a sex
settled by the child's records, "not known" when they tie or say nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.childindex.demographics import ChildProfile, child_profile, consensus

ON = dt.date(2026, 11, 3)


def test_consensus_is_the_value_most_records_give() -> None:
    assert consensus(["F", "F", "M", None, ""]) == "F"
    assert consensus(["F", "M"]) is None
    assert consensus([None, ""]) is None
    assert consensus([]) is None


def test_a_profile_from_records_that_mostly_agree() -> None:
    rows: list[dict[str, Any]] = [
        {"date_of_birth": "2012-05-17", "sex": "F"},
        {"date_of_birth": "2012-05-17", "sex": None},
        {"date_of_birth": "2012-07-05", "sex": "F"},  # a mis-keyed date at one agency
    ]
    assert child_profile(rows, ON) == ChildProfile(age_band="10_15", sex="F")


def test_tied_or_missing_values_are_not_known() -> None:
    rows = [
        {"date_of_birth": "2012-05-17", "sex": "F"},
        {"date_of_birth": "2019-01-02", "sex": "M"},
    ]
    assert child_profile(rows, ON) == ChildProfile(age_band=None, sex=None)
    assert child_profile([{"date_of_birth": None, "sex": None}], ON) == ChildProfile(None, None)


def test_a_date_after_the_day_asked_gives_no_band() -> None:
    assert child_profile([{"date_of_birth": "2027-01-01", "sex": "M"}], ON).age_band is None
