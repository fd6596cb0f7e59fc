"""Finding a child from what a person typed (the MASH console's search, issue 16). Pure.

The store (store.py) turns the typed identifiers into a match row with the same normalisation
as a resolved record (matching/records.py `match_row`) and finds the candidates the same way
(the model's blocking keys); this module says which children are matches and how strongly:

1. A strong identifier typed and held on a record (a valid NHS number, a UPN, an LA child
   id) that is equal: that child, score 1 (an exact lookup; resolution.py treats the same NHS
   number the same way).
2. Otherwise the trained model's match probability of the typed row against the record
   (Fellegi-Sunter: what was not typed counts as unknown, neither for nor against).
3. Either way capped by the guards (matching/guards.py): a typed given name that conflicts
   with the record's is never a strong match.
4. A child's score is its best record's; children under `min_score` are left out, the rest
   ranked best first (older children first on ties) and cut at `limit`.

What a search needs (`require_searchable`, hubkit.linkage.enough_to_search): a strong
identifier, or a family name with a given name or a date of birth, or a given name with a date
of birth. Less (a family name alone, a date of birth alone) would list whole families or year
groups: not a search a MASH needs, and not a proportionate one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.childindex.matching.guards import capped_probability
from services.childindex.matching.thresholds import Thresholds
from services.childindex.resolution import Candidate
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete, enough_to_search

__all__ = [
    "SEARCH_MIN_SCORE",
    "STRONG_IDENTIFIERS",
    "MatchStrength",
    "RankedMatch",
    "rank_matches",
    "require_searchable",
    "search_score",
    "strength_of",
]

Row = Mapping[str, Any]

STRONG_IDENTIFIERS: tuple[str, ...] = ("nhs_number", "upn", "la_child_id")
"""Match-row columns that name one child: equal values are an exact lookup."""

SEARCH_MIN_SCORE = 0.2
"""Below this the model finds the child less likely than one in five given what was typed:
an exact given and family name with nothing else scores about 0.5, the same name one typo
off about 0.3; a shared date of birth under another given name scores under 0.01."""


class MatchStrength(StrEnum):
    """How a person should read a score, by the index's own thresholds (thresholds.json)."""

    STRONG = "strong"
    """At or above `same_child`: the index would link a record like this to the child."""
    POSSIBLE = "possible"
    """In the review band: the index would ask a person."""
    WEAK = "weak"
    """Below the review band: shown because it is among the best there are."""


@dataclass(frozen=True, slots=True)
class RankedMatch:
    child_key: str
    score: float
    strength: MatchStrength


def require_searchable(identifiers: ChildIdentifiers) -> None:
    """Raises IdentifiersIncomplete unless the identifiers are enough to search on
    (hubkit.linkage.enough_to_search, which the console checks too)."""
    if enough_to_search(identifiers):
        return
    raise IdentifiersIncomplete(
        "a search needs a valid NHS number, a UPN or an LA child id, or a family name with a "
        "given name or a date of birth, or a given name with a date of birth"
    )


def search_score(
    typed: Row,
    record: Row,
    *,
    score: Callable[[Row, Row], float],
    thresholds: Thresholds,
) -> float:
    """How likely the record is the child searched for (steps 1-3 of the module docstring)."""
    exact = any(
        typed.get(column) is not None and typed.get(column) == record.get(column)
        for column in STRONG_IDENTIFIERS
    )
    probability = 1.0 if exact else score(typed, record)
    return capped_probability(probability, typed, record, thresholds)


def strength_of(score: float, thresholds: Thresholds) -> MatchStrength:
    if score >= thresholds.same_child:
        return MatchStrength.STRONG
    if score >= thresholds.review:
        return MatchStrength.POSSIBLE
    return MatchStrength.WEAK


def rank_matches(
    typed: Row,
    candidates: Sequence[Candidate],
    *,
    score: Callable[[Row, Row], float],
    thresholds: Thresholds,
    limit: int,
    min_score: float = SEARCH_MIN_SCORE,
) -> list[RankedMatch]:
    """The children the typed row most likely is, best first (step 4)."""
    best: dict[str, float] = {}
    seq: dict[str, int] = {}
    for candidate in candidates:
        p = search_score(typed, candidate.row, score=score, thresholds=thresholds)
        if p > best.get(candidate.child_key, -1.0):
            best[candidate.child_key] = p
        seq[candidate.child_key] = candidate.child_seq
    ranked = sorted(
        (key for key, p in best.items() if p >= min_score),
        key=lambda key: (-best[key], seq[key]),
    )
    return [
        RankedMatch(key, best[key], strength_of(best[key], thresholds)) for key in ranked[:limit]
    ]
