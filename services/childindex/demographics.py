"""What the child index tells the audit service for published figures about children (issue
17): a child's age band on a day and their sex, never the date of birth or anything else.
Pure: the store hands in the child's match rows (every record of every key the child has had).

Agencies disagree about a child: the synthetic population, like the real one, has a date of
birth or a sex missing on a few records and wrong on fewer. A value is the child's when more
of their records give it than give any other value; a tie (two records, two dates of birth)
is not decided here: the child counts as "not known" in the figures rather than in a band a
coin toss chose.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.hubkit.age_bands import age_band_on

__all__ = ["ChildProfile", "child_profile", "consensus"]

SEXES = ("F", "M")


@dataclass(frozen=True, slots=True)
class ChildProfile:
    age_band: str | None
    """hubkit.age_bands code on the day asked about; None when not known."""
    sex: str | None
    """"F" or "M" as the records give it; None when not known or the records disagree evenly."""


def consensus(values: Iterable[Any]) -> Any | None:
    """The value more of `values` give than any other (None and "" ignored); None on a tie
    or when no value is given."""
    counts = Counter(v for v in values if v not in (None, ""))
    if not counts:
        return None
    ranked = counts.most_common(2)
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def child_profile(match_rows: Iterable[Mapping[str, Any]], on: dt.date) -> ChildProfile:
    """The child's age band on `on` and sex, from their records' match rows
    (matching/records.py `match_row`: "date_of_birth" ISO text, "sex" F/M)."""
    rows = list(match_rows)
    born = consensus(row.get("date_of_birth") for row in rows)
    sex = consensus(row.get("sex") for row in rows)
    band = None
    if born is not None:
        try:
            band = age_band_on(dt.date.fromisoformat(str(born)), on)
        except ValueError:
            band = None
    return ChildProfile(age_band=band, sex=sex if sex in SEXES else None)
