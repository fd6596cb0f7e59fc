"""Which child a new record is: the online decision, over the record's candidates. Pure.

The store (store.py) finds the candidates (index records sharing a blocking key with the new
one, each under its child's *current* key) and the model scores them; this module decides:

1. Deterministic first: a candidate with the same valid NHS number is the same child
   (probability 1); the batch linker does the same (scoring.py). Neither that rule nor the
   model links a pair whose given names conflict (twins; a sibling's NHS number): such a pair
   is at most in the review band (matching/guards.py).
2. Each candidate child's probability is the best of its records' (a child reported thirty
   times is matched on the record most like the new one).
3. Children at or above `same_child` are the record's child. One: the record joins it.
   Several: the record bridges them (say an old health record and a new school record), so
   they are merged into the oldest, except any pair a person has said is not the same child
   (`kept_apart`): those stay apart and the record joins the most likely of them.
4. Otherwise, if a child is in the review band, the record becomes a new child and the pair
   (that child, the new one) goes to the review queue: a person decides.
5. Otherwise the record is a new child.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.childindex.matching.guards import capped_probability
from services.childindex.matching.thresholds import Thresholds

__all__ = ["Candidate", "Resolution", "decide_child"]

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An index record that shares a blocking key with the new record."""

    child_key: str  # the child's current key (after merges)
    child_seq: int  # when that child was first seen (smaller: older)
    row: Row  # the record as the matcher compares it (records.match_row)


@dataclass(frozen=True, slots=True)
class Resolution:
    """`joins`: the existing child the record is (None: a new child). `merges`: other
    children the record shows to be that same child. `review`: the child a person must
    compare with the new one, and the model's probability."""

    joins: str | None
    merges: tuple[str, ...] = ()
    review: tuple[str, float] | None = None
    best_probability: float = 0.0


def decide_child(
    row: Row,
    candidates: Sequence[Candidate],
    *,
    score: Callable[[Row, Row], float],
    thresholds: Thresholds,
    kept_apart: Callable[[str, str], bool],
) -> Resolution:
    """The decision for `row` (steps in the module docstring). `score` is the model's match
    probability of two rows; `kept_apart(a, b)` says a person decided children a and b differ."""
    best: dict[str, float] = {}
    seq: dict[str, int] = {}
    for candidate in candidates:
        p = _probability(row, candidate.row, score, thresholds)
        if p > best.get(candidate.child_key, -1.0):
            best[candidate.child_key] = p
        seq[candidate.child_key] = candidate.child_seq
    if not best:
        return Resolution(joins=None)
    ranked = sorted(best, key=lambda key: (-best[key], seq[key]))
    top = best[ranked[0]]
    linked = [key for key in ranked if best[key] >= thresholds.same_child]
    if linked:
        # The most likely child, and every other linked child nobody has kept apart from
        # any child already in the group; the oldest of them keeps its key.
        group = [linked[0]]
        for key in linked[1:]:
            if not any(kept_apart(key, member) for member in group):
                group.append(key)
        root = min(group, key=lambda key: seq[key])
        return Resolution(
            joins=root,
            merges=tuple(key for key in group if key != root),
            best_probability=top,
        )
    if top >= thresholds.review:
        return Resolution(joins=None, review=(ranked[0], top), best_probability=top)
    return Resolution(joins=None, best_probability=top)


def _probability(
    row: Row, other: Row, score: Callable[[Row, Row], float], thresholds: Thresholds
) -> float:
    nhs = row.get("nhs_number")
    probability = 1.0 if nhs is not None and nhs == other.get("nhs_number") else score(row, other)
    return capped_probability(probability, row, other, thresholds)
