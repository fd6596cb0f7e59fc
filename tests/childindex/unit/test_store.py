"""The child index's store: placing records, the review queue, merges and splits, the outbox
and child context, over a real SQLite file (no broker). The scorer here is a small table so
each test says exactly which pairs are how likely; the trained model's own behaviour is tested
in test_matching.py and test_online_scorer.py."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from services.childindex.domain import LinkageKeyer
from services.childindex.errors import ReviewAlreadyDecided
from services.childindex.matching.thresholds import Thresholds
from services.childindex.store import ChildIndexStore, require_resolvable
from services.hubkit.linkage import ChildIdentifiers, IdentifiersIncomplete

SECRET = b"s" * 32
STORE_KEY = b"k" * 32
NHS = "9434765919"  # modulus-11 valid, synthetic
DOB = dt.date(2012, 5, 17)


class TableScorer:
    """Same family name and date of birth: 0.99 with the same given name or when one side
    has none (such a record bridges every child of that name and birth date), else 0.8."""

    def __init__(self) -> None:
        self.learned = 0

    def blocking_keys(self, row: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
        keys = set()
        if row["date_of_birth"] and row["family_name"]:
            keys.add(("dob_family", f"{row['date_of_birth']}|{row['family_name']}"))
        if row["nhs_number"]:
            keys.add(("nhs_number", row["nhs_number"]))
        return frozenset(keys)

    def probability(self, row: Mapping[str, Any], other: Mapping[str, Any]) -> float:
        if (row["family_name"], row["date_of_birth"]) != (
            other["family_name"],
            other["date_of_birth"],
        ):
            return 0.01
        if None in (row["given_name"], other["given_name"]):
            return 0.99
        return 0.99 if row["given_name_formal"] == other["given_name_formal"] else 0.8

    def learn(self, row: Mapping[str, Any]) -> None:
        self.learned += 1


def _store(path: Path, scorer: TableScorer | None = None) -> ChildIndexStore:
    return ChildIndexStore(
        path,
        secret=SECRET,
        store_key=STORE_KEY,
        scorer=scorer or TableScorer(),
        thresholds=Thresholds(same_child=0.95, review=0.7),
    )


def child(**fields: Any) -> ChildIdentifiers:
    base: dict[str, Any] = {
        "given_name": "Robin",
        "family_name": "Testfield",
        "date_of_birth": DOB,
        "postcode": "ZZ1 1AA",
    }
    return ChildIdentifiers(**{**base, **fields})


@pytest.fixture
def store(tmp_path: Path) -> ChildIndexStore:
    return _store(tmp_path / "index.sqlite")


def test_the_store_file_is_private(tmp_path: Path) -> None:
    _store(tmp_path / "ci" / "index.sqlite")
    assert os.stat(tmp_path / "ci" / "index.sqlite").st_mode & 0o077 == 0


def test_a_child_first_seen_with_an_nhs_number_keeps_the_v0_key(store: ChildIndexStore) -> None:
    identifiers = child(nhs_number=NHS)
    key = store.resolve("HEALTH", identifiers)
    assert key == LinkageKeyer(SECRET).key(identifiers)
    # The same valid NHS number is the same child, whatever else differs...
    moved = child(nhs_number=NHS, family_name="Otherfield", postcode="ZZ9 9ZZ", date_of_birth=None)
    assert store.resolve("HEALTH", moved) == key
    assert store.reviews(status="open", limit=10) == []


def test_the_same_nhs_number_with_another_given_name_goes_to_review(
    store: ChildIndexStore,
) -> None:
    # ...unless the given names conflict: a sibling's NHS number in the record, say.
    robin = store.resolve("HEALTH", child(nhs_number=NHS))
    kim = store.resolve("HEALTH", child(nhs_number=NHS, given_name="Kim"))
    assert kim != robin
    (review,) = store.reviews(status="open", limit=10)
    assert (review["left"]["child_key"], review["right"]["child_key"]) == (robin, kim)
    assert 0.7 <= review["match_probability"] < 0.95


def test_police_without_nhs_number_joins_the_health_record(store: ChildIndexStore) -> None:
    health = store.resolve("HEALTH", child(nhs_number=NHS, given_name="Robert"))
    police = store.resolve("POLICE", child(given_name="Rob", postcode=None))
    # "Rob" and "Robert" agree on the formal name: the table gives 0.99.
    assert police == health
    assert store.reviews(status="open", limit=10) == []


def test_the_same_record_again_adds_nothing(tmp_path: Path) -> None:
    scorer = TableScorer()
    store = _store(tmp_path / "index.sqlite", scorer)
    first = store.resolve("POLICE", child())
    assert store.resolve("POLICE", child()) == first
    assert scorer.learned == 1


def test_an_uncertain_record_is_a_new_child_and_a_review(store: ChildIndexStore) -> None:
    robin = store.resolve("POLICE", child())
    sam = store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    assert sam != robin
    (review,) = store.reviews(status="open", limit=10)
    assert (review["left"]["child_key"], review["right"]["child_key"]) == (robin, sam)
    assert review["match_probability"] == pytest.approx(0.8)
    assert review["left"]["records"][0]["given_name"] == "Robin"
    assert review["right"]["records"][0]["agency"] == "CHILDRENS_SERVICES"


def test_a_person_saying_same_merges_and_announces(store: ChildIndexStore) -> None:
    robin = store.resolve("POLICE", child())
    sam = store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    (review,) = store.reviews(status="open", limit=10)
    decision = store.decide(
        review["review_id"], same_child=True, decided_by="u-42", rationale="same school"
    )
    assert decision.child_key == robin
    assert store.keys_of(sam) == (robin, sorted([robin, sam]))
    (event,) = store.unpublished_events()
    assert event.body["kind"] == "MERGE"
    assert (event.body["child_key"], event.body["other_keys"]) == (robin, [sam])
    assert event.body["decided_by"] == "u-42"
    assert event.body["review_id"] == review["review_id"]
    # The next record of "Sam" is published under the surviving key.
    assert store.resolve("VCS", child(given_name="Sam", postcode=None)) == robin
    store.mark_published([event.event_id])
    assert store.unpublished_events() == []


def test_decisions_survive_a_restart_and_cannot_be_made_twice(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    store = _store(path)
    robin = store.resolve("POLICE", child())
    store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    (review,) = store.reviews(status="open", limit=10)
    store.decide(review["review_id"], same_child=False, decided_by="u-7", rationale="twins")
    store.close()

    reopened = _store(path)
    decided = reopened.review(review["review_id"])
    assert (decided["status"], decided["decided_by"], decided["rationale"]) == (
        "not_same_child",
        "u-7",
        "twins",
    )
    with pytest.raises(ReviewAlreadyDecided):
        reopened.decide(review["review_id"], same_child=True, decided_by="u-8", rationale="x")
    assert reopened.resolve("POLICE", child()) == robin


def test_children_kept_apart_are_not_merged_by_a_bridging_record(
    store: ChildIndexStore,
) -> None:
    robin = store.resolve("POLICE", child())
    sam = store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    (review,) = store.reviews(status="open", limit=10)
    store.decide(review["review_id"], same_child=False, decided_by="u-7", rationale="twins")
    # A record without a given name is as like Robin as like Sam and would bridge them;
    # a person said they differ, so it joins one of them and merges nothing.
    bridge = store.resolve("HEALTH", child(given_name=None, nhs_number=NHS))
    assert bridge in (robin, sam)
    assert store.keys_of(robin)[1] == [robin]
    assert store.keys_of(sam)[1] == [sam]
    assert store.unpublished_events() == []


def test_a_record_that_matches_two_children_merges_them(store: ChildIndexStore) -> None:
    robin = store.resolve("POLICE", child())
    sam = store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    assert store.resolve("HEALTH", child(given_name=None, nhs_number=NHS)) == robin
    assert store.keys_of(sam) == (robin, sorted([robin, sam]))
    (event,) = store.unpublished_events()
    assert (event.body["kind"], event.body["decided_by"]) == ("MERGE", "childindex-model")
    assert event.body["match_probability"] == pytest.approx(0.99)


def test_not_the_same_after_a_merge_splits(store: ChildIndexStore) -> None:
    robin = store.resolve("POLICE", child())
    sam = store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    (first,) = store.reviews(status="open", limit=10)
    store.decide(first["review_id"], same_child=True, decided_by="u-1", rationale="looks same")
    # A second review between the same two children, raised before the merge, says no.
    alex = store.resolve("VCS", child(given_name="Alex"))
    (second,) = store.reviews(status="open", limit=10)
    assert second["right"]["child_key"] == alex
    store.decide(second["review_id"], same_child=True, decided_by="u-2", rationale="yes")
    assert sorted(store.keys_of(alex)[1]) == sorted([robin, sam, alex])
    # Someone with better evidence says Alex is not Robin: Alex's key leaves the group.
    # A review reopened on the merged pair, as an IG correction would be.
    with store._sqlite.transaction() as db:
        db.execute(
            "INSERT INTO reviews VALUES ('r-x', ?, ?, 0.8, 'open', '2026-01-01', NULL, NULL, NULL)",
            (robin, alex),
        )
    store.decide("r-x", same_child=False, decided_by="u-3", rationale="different DOB papers")
    assert store.keys_of(alex) == (alex, [alex])
    assert store.keys_of(sam)[0] == robin
    kinds = [e.body["kind"] for e in store.unpublished_events()]
    assert kinds == ["MERGE", "MERGE", "SPLIT"]
    split = store.unpublished_events()[-1].body
    assert (split["child_key"], split["other_keys"]) == (robin, [alex])


def test_context_spans_merged_keys_and_stores_each_notice_once(
    store: ChildIndexStore,
) -> None:
    robin = store.resolve("POLICE", child())
    sam = store.resolve("CHILDRENS_SERVICES", child(given_name="Sam"))
    (review,) = store.reviews(status="open", limit=10)
    store.decide(review["review_id"], same_child=True, decided_by="u-1", rationale="same")

    def episode(notice_id: str, key: str, agency: str, started: str) -> dict[str, Any]:
        return {
            "notice_id": notice_id,
            "child_key": key,
            "agency": agency,
            "created_at": started,
            "exploitation_flagged": agency == "POLICE",
            "exploitation_types": [],
            "missing_episode": {"status": "ABSENT", "risk_grade": None, "started_at": started},
        }

    first = episode("n1", robin, "POLICE", "2026-03-01T10:00:00Z")
    contexts = store.observe_and_contexts(
        [first, episode("n2", sam, "CHILDRENS_SERVICES", "2026-03-09T10:00:00Z")], [sam]
    )
    context = contexts[sam]
    assert context["child_key"] == robin
    assert context["exploitation"]["flagged_by"] == ["POLICE"]
    assert [e["notice_id"] for e in context["missing_episodes"]] == ["n1", "n2"]
    again = store.observe_and_contexts([first], [robin])[robin]
    assert len(again["missing_episodes"]) == 2


@pytest.mark.parametrize(
    ("identifiers", "resolvable"),
    [
        (ChildIdentifiers(nhs_number=NHS), True),
        (ChildIdentifiers(nhs_number="9434765918"), False),  # fails the modulus-11 check
        (ChildIdentifiers(upn="A123456789012"), True),
        (ChildIdentifiers(la_child_id="LA-77"), True),
        (ChildIdentifiers(given_name="A", family_name="B", date_of_birth=DOB), True),
        (ChildIdentifiers(given_name="A", family_name="B", postcode="ZZ1 1AA"), True),
        (ChildIdentifiers(given_name="A", family_name="B"), False),
        (ChildIdentifiers(family_name="B", date_of_birth=DOB, postcode="ZZ1"), False),
    ],
)
def test_what_the_index_can_place(identifiers: ChildIdentifiers, resolvable: bool) -> None:
    if resolvable:
        require_resolvable(identifiers)
    else:
        with pytest.raises(IdentifiersIncomplete):
            require_resolvable(identifiers)
