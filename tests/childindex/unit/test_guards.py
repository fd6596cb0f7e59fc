"""The model never links a pair whose given names conflict (twins; a sibling's NHS number)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.childindex.matching.guards import capped_probability, given_names_conflict
from services.childindex.matching.records import match_row
from services.childindex.matching.thresholds import Thresholds

THRESHOLDS = Thresholds(same_child=0.95, review=0.7)


class _Record:
    def __init__(self, given: str | None, sex: str | None) -> None:
        self.record_id = given or "none"
        self.given_name = given
        self.family_name = "Testfield"
        self.sex = sex
        self.date_of_birth = dt.date(2013, 2, 3)
        self.postcode = "ZZ1 1AA"
        self.nhs_number = None
        self.upn = None
        self.la_child_id = None


def _row(given: str | None, sex: str | None = "F") -> dict[str, Any]:
    return match_row(_Record(given, sex))


@pytest.mark.parametrize(
    ("given", "other", "conflict"),
    [
        ("Olivia", "Grace", True),  # twins
        ("Oliver", "Olivia", False),  # similar (Jaro-Winkler >= 0.8): the model decides
        ("Alex", "Alexander", False),  # a nickname of the same formal name
        ("Olivia", "O", False),  # a bare initial is not a conflict
        ("Olivia", None, False),  # nor a missing name
        ("Olivia", "olivia", False),
    ],
)
def test_given_names_conflict(given: str, other: str | None, conflict: bool) -> None:
    assert given_names_conflict(_row(given), _row(other)) is conflict
    assert given_names_conflict(_row(other), _row(given)) is conflict


def test_a_conflicting_pair_is_capped_into_the_review_band() -> None:
    capped = capped_probability(0.9999, _row("Olivia"), _row("Grace"), THRESHOLDS)
    assert THRESHOLDS.review <= capped < THRESHOLDS.same_child
    assert capped_probability(0.9999, _row("Olivia"), _row("Olive"), THRESHOLDS) == 0.9999
    assert capped_probability(0.5, _row("Olivia"), _row("Grace"), THRESHOLDS) == 0.5


def test_conflicting_given_names_and_opposite_sexes_are_two_children() -> None:
    capped = capped_probability(0.9999, _row("Olivia", "F"), _row("Oscar", "M"), THRESHOLDS)
    assert capped < THRESHOLDS.review
    # A missing sex is no evidence either way: a person decides.
    unsure = capped_probability(0.9999, _row("Olivia", "F"), _row("Oscar", None), THRESHOLDS)
    assert THRESHOLDS.review <= unsure < THRESHOLDS.same_child
