"""Finding a child from typed identifiers (issue 16): what is enough to search on, how matches
are scored and ranked (search.py, pure), and the store's search over a real SQLite file with
the trained model: current keys after merges, every key of the child, nothing stored, nothing
learned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from services.childindex.matcher import OnlineMatcher
from services.childindex.matching.thresholds import Thresholds
from services.childindex.resolution import Candidate
from services.childindex.search import (
    MatchStrength,
    rank_matches,
    require_searchable,
    search_score,
)
from services.childindex.store import ChildIndexStore
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete

SECRET = b"s" * 32
STORE_KEY = b"k" * 32
NHS = "9434765919"  # modulus-11 valid, synthetic
DOB = dt.date(2012, 5, 17)
THRESHOLDS = Thresholds(same_child=0.95, review=0.7)


@pytest.mark.parametrize(
    ("identifiers", "searchable"),
    [
        (ChildIdentifiers(nhs_number="943 476 5919"), True),
        (ChildIdentifiers(nhs_number="9434765918"), False),  # fails modulus 11
        (ChildIdentifiers(upn="A123456789012"), True),
        (ChildIdentifiers(la_child_id="LA-77"), True),
        (ChildIdentifiers(given_name="Robin", family_name="Testfield"), True),
        (ChildIdentifiers(family_name="Testfield", date_of_birth=DOB), True),
        (ChildIdentifiers(given_name="Robin", date_of_birth=DOB), True),
        (ChildIdentifiers(family_name="Testfield"), False),  # a whole family
        (ChildIdentifiers(date_of_birth=DOB), False),  # a whole year group's birthdays
        (ChildIdentifiers(given_name="Robin", postcode="ZZ1 1AA"), False),
        (ChildIdentifiers(given_name=" ", family_name=" ", date_of_birth=None), False),
    ],
)
def test_what_is_enough_to_search_on(identifiers: ChildIdentifiers, searchable: bool) -> None:
    if searchable:
        require_searchable(identifiers)
    else:
        with pytest.raises(IdentifiersIncomplete):
            require_searchable(identifiers)


def _row(**values: Any) -> dict[str, Any]:
    base = {"given_name": None, "given_name_formal": None, "sex": None, "nhs_number": None}
    return {**base, "upn": None, "la_child_id": None, **values}


def _never(left: Mapping[str, Any], right: Mapping[str, Any]) -> float:
    return 0.0


def test_an_equal_strong_identifier_is_an_exact_lookup_capped_by_the_guards() -> None:
    typed = _row(upn="A1")
    assert search_score(typed, _row(upn="A1"), score=_never, thresholds=THRESHOLDS) == 1.0
    assert search_score(typed, _row(upn="A2"), score=_never, thresholds=THRESHOLDS) == 0.0
    # A typed given name that conflicts with the record's: never a strong match.
    conflicting = _row(upn="A1", given_name="robin", given_name_formal="robin")
    record = _row(upn="A1", given_name="kim", given_name_formal="kim")
    capped = search_score(conflicting, record, score=_never, thresholds=THRESHOLDS)
    assert THRESHOLDS.review <= capped < THRESHOLDS.same_child


def test_matches_are_each_child_best_record_ranked_and_cut() -> None:
    scores = {"r1": 0.99, "r2": 0.3, "r3": 0.8, "r4": 0.1, "r5": 0.99}

    def score(typed: Mapping[str, Any], row: Mapping[str, Any]) -> float:
        return scores[row["record_id"]]

    candidates = [
        Candidate("older", 1, _row(record_id="r2")),
        Candidate("older", 1, _row(record_id="r5")),  # the child's best record counts
        Candidate("newer", 3, _row(record_id="r1")),
        Candidate("middle", 2, _row(record_id="r3")),
        Candidate("unlikely", 4, _row(record_id="r4")),  # under the floor
    ]
    ranked = rank_matches(_row(), candidates, score=score, thresholds=THRESHOLDS, limit=10)
    assert [(m.child_key, m.score, m.strength) for m in ranked] == [
        ("older", 0.99, MatchStrength.STRONG),  # ties: the older child first
        ("newer", 0.99, MatchStrength.STRONG),
        ("middle", 0.8, MatchStrength.POSSIBLE),
    ]
    cut = rank_matches(_row(), candidates, score=score, thresholds=THRESHOLDS, limit=1)
    assert [m.child_key for m in cut] == ["older"]
    weak = rank_matches(
        _row(), candidates, score=score, thresholds=THRESHOLDS, limit=10, min_score=0.05
    )
    assert weak[-1].strength is MatchStrength.WEAK


class CountingMatcher(OnlineMatcher):
    """The trained model, counting what it learns."""

    learned = 0

    def learn(self, row: Mapping[str, Any]) -> None:
        type(self).learned += 1
        super().learn(row)


@pytest.fixture
def store(tmp_path: Path) -> ChildIndexStore:
    matcher = OnlineMatcher.load()
    counting = CountingMatcher(matcher._model, matcher._term_frequencies)
    return ChildIndexStore(
        tmp_path / "index.sqlite",
        secret=SECRET,
        store_key=STORE_KEY,
        scorer=counting,
        thresholds=Thresholds.load(),
    )


def robin(**fields: Any) -> ChildIdentifiers:
    base: dict[str, Any] = {
        "given_name": "Robin",
        "family_name": "Testfield",
        "date_of_birth": DOB,
        "postcode": "ZZ1 1AA",
    }
    return ChildIdentifiers(**{**base, **fields})


def _found(store: ChildIndexStore, **typed: Any) -> list[tuple[str, str]]:
    return [(m.child_key, m.strength) for m in store.search(ChildIdentifiers(**typed), limit=10)]


def test_a_child_is_found_by_each_identifier_a_person_may_type(store: ChildIndexStore) -> None:
    police = store.resolve("POLICE", robin(upn="A123456789012", sex="F"))
    health = store.resolve("HEALTH", robin(nhs_number=NHS))
    assert health == police  # one child, two agencies' records
    twin = store.resolve("POLICE", robin(given_name="Kim", la_child_id="LA-77"))
    elsewhere = store.resolve(
        "POLICE", robin(family_name="Otherly", date_of_birth=dt.date(2013, 1, 2))
    )
    assert len({police, twin, elsewhere}) == 3

    # As typed, any spacing or case: normalised as a resolved record is.
    assert _found(store, nhs_number="943 476 5919") == [(police, "strong")]
    assert _found(store, upn="a123456789012 ") == [(police, "strong")]
    assert _found(store, la_child_id="la-77") == [(twin, "strong")]
    assert _found(store, given_name="ROBIN", family_name="testfield") == [(police, "strong")]
    assert _found(store, given_name="Robin", family_name="Otherly") == [(elsewhere, "strong")]
    # Name and date of birth with a misspelt given name: Robin first; the twin who shares
    # the family name and birthday only as a possible match (the guards: names conflict).
    assert _found(store, given_name="Robyn", family_name="Testfield", date_of_birth=DOB) == [
        (police, "strong"),
        (twin, "possible"),
    ]
    # A date of birth and a given name: the child with that birthday and name, not others.
    assert _found(store, given_name="Robin", date_of_birth=DOB) == [(police, "strong")]
    # Nothing alike: nothing found (a child not in the index is not invented).
    assert _found(store, given_name="Nobody", family_name="Unknown") == []
    with pytest.raises(IdentifiersIncomplete):
        store.search(ChildIdentifiers(family_name="Testfield"), limit=10)


def test_searching_stores_nothing_and_teaches_the_model_nothing(store: ChildIndexStore) -> None:
    store.resolve("POLICE", robin())
    learned = CountingMatcher.learned
    with store._sqlite.reading() as db:
        before = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _TABLES]
    for _ in range(3):
        store.search(robin(given_name="Robyn"), limit=10)
        store.search(ChildIdentifiers(given_name="New", family_name="Person"), limit=10)
    with store._sqlite.reading() as db:
        after = [db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _TABLES]
    assert after == before
    assert CountingMatcher.learned == learned


_TABLES = ("children", "records", "blocking_keys", "reviews", "outbox")


def test_a_merged_child_is_found_under_its_current_key_with_every_key(
    store: ChildIndexStore,
) -> None:
    robin_key = store.resolve("POLICE", robin(given_name="Robin"))
    # Another record the model is unsure of: a new child, and a review.
    other = store.resolve("CHILDRENS_SERVICES", robin(given_name="Bobbin", postcode="ZZ9 9ZZ"))
    assert other != robin_key
    (review,) = store.reviews(status="open", limit=10)
    kept = store.decide(review["review_id"], same_child=True, decided_by="u-1", rationale="x")
    (match,) = store.search(ChildIdentifiers(given_name="Bobbin", date_of_birth=DOB), limit=5)
    assert match.child_key == kept.child_key
    assert sorted(match.keys) == sorted([robin_key, other])
