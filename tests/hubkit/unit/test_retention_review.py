"""Every audit record is dated for its retention review the same way (hubkit.audit_trail)."""

from __future__ import annotations

import datetime as dt

from services.hubkit.audit_trail import AUDIT_REVIEW_YEARS, retention_review_date


def test_a_record_is_reviewed_six_years_on() -> None:
    made = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
    assert AUDIT_REVIEW_YEARS == 6
    assert retention_review_date(made) == dt.date(2032, 12, 5)


def test_a_leap_day_record_is_reviewed_on_28_february() -> None:
    assert retention_review_date(dt.datetime(2028, 2, 29, tzinfo=dt.UTC)) == dt.date(2034, 2, 28)
