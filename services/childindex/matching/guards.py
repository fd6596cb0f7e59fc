"""What the model alone may not decide: a pair whose given names conflict is never linked
without a person. Pure.

Two failure cases the synthetic population carries, as real MASH data does, and which the
Fellegi-Sunter weights over-rate because every other identifier agrees:
- twins: same family name, date of birth, postcode and often sex; only the given name
  differs (and police and voluntary-sector records have no NHS number to tell them apart);
- a sibling's NHS number recorded in the child's health record: the "same NHS number" rule
  would join two brothers.
Master patient index practice treats an NHS number whose demographics conflict as a case for
review, not a match. So a pair whose given names are both present and conflict (not equal,
not the same formal name, Jaro-Winkler below 0.8, neither a bare initial) is at most in the
review band: its probability is capped just below `same_child`, and a person decides. When
the two records also give opposite sexes, they are two children (twins of opposite sex; a
brother's NHS number): capped just below `review`, nobody is asked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from services.childindex.matching.online import jaro_winkler_similarity
from services.childindex.matching.thresholds import Thresholds

__all__ = ["capped_probability", "given_names_conflict"]

Row = Mapping[str, Any]

# The Jaro-Winkler level below which model.py's given-name comparison has no similarity level.
_SIMILAR_GIVEN_NAMES = 0.8


def given_names_conflict(row: Row, other: Row) -> bool:
    given, other_given = row.get("given_name"), other.get("given_name")
    if not given or not other_given or len(given) == 1 or len(other_given) == 1:
        return False
    if given == other_given or row.get("given_name_formal") == other.get("given_name_formal"):
        return False
    return jaro_winkler_similarity(given, other_given) < _SIMILAR_GIVEN_NAMES


def capped_probability(probability: float, row: Row, other: Row, thresholds: Thresholds) -> float:
    """`probability`, or capped when the given names conflict (module docstring)."""
    if probability < thresholds.review or not given_names_conflict(row, other):
        return probability
    sex, other_sex = row.get("sex"), other.get("sex")
    if sex is not None and other_sex is not None and sex != other_sex:
        return min(probability, math.nextafter(thresholds.review, 0.0))
    return min(probability, math.nextafter(thresholds.same_child, 0.0))
