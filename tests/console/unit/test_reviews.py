"""The review queue's pure core (services/console/domain/reviews.py): the index's answers
read strictly, the evidence side by side with real differences marked, the answer checked."""

from __future__ import annotations

from typing import Any

import pytest

from services.console.domain.reviews import (
    MAX_LINKAGE_RATIONALE,
    ReviewStatus,
    decision_recorded_from_json,
    review_from_json,
    review_row,
    review_view,
    reviews_from_json,
    validate_linkage_answer,
    well_formed_review_id,
)
from services.console.errors import ChildIndexUnavailable
from tests.console.factories import (
    AGENCIES,
    LEFT_CHILD,
    RIGHT_CHILD,
    evidence_json,
    review_json,
)


def _cells(column: Any) -> dict[str, Any]:
    return {c.label: c for c in column.cells}


def test_a_review_reads_both_sides() -> None:
    review = review_from_json(review_json())
    assert review.open
    assert (review.left.child_key, review.right.child_key) == (LEFT_CHILD, RIGHT_CHILD)
    assert review.right.records[0].nhs_number == "9434765919"
    assert review.created_at is not None


def test_values_the_other_side_lacks_are_not_differences_but_disagreements_are() -> None:
    view = review_view(review_from_json(review_json()), agencies=AGENCIES)
    (left,) = view.left
    (right,) = view.right
    assert left.agency == "Police (Synthetic Constabulary)"
    mine, theirs = _cells(left), _cells(right)
    # Jodie / Jodi, and two postcodes: marked on both sides.
    assert mine["Given name"].differs
    assert theirs["Given name"].differs
    assert mine["Postcode"].differs
    assert theirs["Postcode"].differs
    # Same family name, sex and date of birth: not marked.
    assert not mine["Family name"].differs
    assert not mine["Date of birth"].differs
    assert mine["Date of birth"].text == "2 Mar 2014"
    # Police held no NHS number: "not given", and the health one is not a difference.
    assert mine["NHS number"].text == "Not given"
    assert not mine["NHS number"].given
    assert theirs["NHS number"].text == "943 476 5919"
    assert not theirs["NHS number"].differs
    assert view.differences == ("Given name", "Postcode")
    assert view.probability_text == "74%"


def test_spacing_and_case_never_make_a_difference() -> None:
    review = review_json(
        left=[evidence_json(given_name="jodie ", postcode="zz11aa", nhs_number="943 476 5919")],
        right=[evidence_json("HEALTH", given_name="JODIE", nhs_number="9434765919")],
    )
    view = review_view(review_from_json(review), agencies=AGENCIES)
    assert view.differences == ()
    assert not any(c.differs for col in view.left + view.right for c in col.cells)


def test_a_value_matching_any_record_on_the_other_side_is_not_marked() -> None:
    review = review_json(
        left=[evidence_json(postcode="ZZ1 1AA")],
        right=[
            evidence_json("HEALTH", postcode="ZZ9 9ZZ"),
            evidence_json("CSC", postcode="ZZ1 1AA"),
        ],
    )
    view = review_view(review_from_json(review), agencies=AGENCIES)
    assert not _cells(view.left[0])["Postcode"].differs
    assert _cells(view.right[0])["Postcode"].differs  # a moved postcode: still shown
    assert view.differences == ()


def test_a_decided_review_says_by_whom_relative_to_the_viewer() -> None:
    decided = review_from_json(
        review_json(status="same_child", decided_by="u-other", rationale="Same school.")
    )
    assert "by someone else" in (review_view(decided, agencies=AGENCIES).decided_text or "")
    mine = review_view(decided, agencies=AGENCIES, viewer_subject="u-other")
    assert mine.decided_text is not None
    assert mine.decided_text.startswith("Decided: the same child, by you")
    assert not mine.open


def test_the_list_row_names_each_side_by_its_first_named_record() -> None:
    row = review_row(
        review_from_json(review_json(left=[evidence_json(given_name=None, family_name=None)])),
        agencies=AGENCIES,
    )
    assert row.left_name == "Name not given"
    assert row.right_name == "Jodi Example"
    assert row.right_agencies == "Health (Synthetic NHS Trust)"


@pytest.mark.parametrize(
    "body",
    [
        None,
        {},
        {**review_json(), "review_id": "../admin"},
        {**review_json(), "status": "maybe"},
        {**review_json(), "match_probability": "high"},
        {**review_json(), "left": {"records": []}},
        {**review_json(), "right": {"child_key": RIGHT_CHILD, "records": ["x"]}},
        {**review_json(), "created_at": "yesterday"},
        {**review_json(), "decided_by": 7},
    ],
)
def test_an_answer_of_another_shape_is_the_index_failing(body: Any) -> None:
    with pytest.raises(ChildIndexUnavailable):
        review_from_json(body)


def test_lists_and_decision_answers_are_read_strictly() -> None:
    assert [r.review_id for r in reviews_from_json({"reviews": [review_json()]})] == ["rev-0001"]
    with pytest.raises(ChildIndexUnavailable):
        reviews_from_json({"reviews": "none"})
    recorded = decision_recorded_from_json(
        {"review_id": "rev-0001", "status": "same_child", "child_key": LEFT_CHILD}
    )
    assert (recorded.status, recorded.child_key) == (ReviewStatus.SAME_CHILD, LEFT_CHILD)
    with pytest.raises(ChildIndexUnavailable):
        decision_recorded_from_json({"review_id": "rev-0001", "status": "open"})


def test_only_review_ids_of_a_bounded_form_reach_the_index() -> None:
    assert well_formed_review_id("rev-0001") == "rev-0001"
    assert well_formed_review_id("3f0e2a1c-7d4b-4c5e-9f60-1a2b3c4d5e6f") is not None
    for junk in ("", "../v1/children", "a b", "x" * 200, "<script>"):
        assert well_formed_review_id(junk) is None


def test_an_answer_needs_a_choice_and_a_rationale() -> None:
    problems = validate_linkage_answer({})
    assert isinstance(problems, list)
    assert [p.field for p in problems] == ["answer-same", "rationale"]
    too_long = validate_linkage_answer(
        {"answer": ["same"], "rationale": ["x" * (MAX_LINKAGE_RATIONALE + 1)]}
    )
    assert isinstance(too_long, list)
    assert too_long[0].field == "rationale"
    answer = validate_linkage_answer(
        {"answer": ["not-same"], "rationale": ["  Different DOB and sex.  "]}
    )
    assert not isinstance(answer, list)
    assert (answer.same_child, answer.rationale) == (False, "Different DOB and sex.")
    assert answer.status is ReviewStatus.NOT_SAME_CHILD
