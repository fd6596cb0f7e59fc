"""The child index's review queue ("same child?") as the console shows it: reviews read from
the index's answers, the evidence side by side with differing values marked, and the checked
answer a decision maker gives.

A review pairs two children the matching model could not call either way (contract:
/tmp/prompts/contract15.md, "Review queue"): the left child's records and the right child's,
each record being what one agency sent the index. The page puts the two sides next to each
other, one record a column, and marks a value that no record on the other side has (two
values of a field disagree; a value one side lacks is "not given", not a difference).

Pure: no I/O, no clock. The HTTP client is services/console/child_index.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.console.domain.decisions import FieldProblem
from services.console.domain.feed import parse_time
from services.console.domain.views.fields import agency_text, when_text
from services.console.errors import ChildIndexUnavailable
from services.hubkit.audit_trail import REVIEW_ID_FORM

__all__ = [
    "EVIDENCE_FIELDS",
    "MAX_LINKAGE_RATIONALE",
    "MIN_LINKAGE_RATIONALE",
    "DecisionRecorded",
    "Evidence",
    "EvidenceCell",
    "EvidenceColumn",
    "LinkageAnswer",
    "Review",
    "ReviewRow",
    "ReviewSide",
    "ReviewStatus",
    "ReviewView",
    "decision_recorded_from_json",
    "review_from_json",
    "review_row",
    "review_view",
    "reviews_from_json",
    "validate_linkage_answer",
    "well_formed_review_id",
]

MIN_LINKAGE_RATIONALE = 10
MAX_LINKAGE_RATIONALE = 2000  # the child index's own limit


class ReviewStatus(StrEnum):
    OPEN = "open"
    SAME_CHILD = "same_child"
    NOT_SAME_CHILD = "not_same_child"


_STATUS_TEXT = {
    ReviewStatus.OPEN: "Awaiting a decision",
    ReviewStatus.SAME_CHILD: "Decided: the same child",
    ReviewStatus.NOT_SAME_CHILD: "Decided: not the same child",
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record as an agency sent it to the index (any identifier may be missing)."""

    agency: str
    received_at: dt.datetime | None
    given_name: str | None
    family_name: str | None
    sex: str | None
    date_of_birth: str | None
    postcode: str | None
    nhs_number: str | None
    upn: str | None
    la_child_id: str | None


@dataclass(frozen=True, slots=True)
class ReviewSide:
    child_key: str
    records: tuple[Evidence, ...]


@dataclass(frozen=True, slots=True)
class Review:
    review_id: str
    status: ReviewStatus
    match_probability: float
    created_at: dt.datetime | None
    left: ReviewSide
    right: ReviewSide
    decided_by: str | None
    decided_at: dt.datetime | None
    rationale: str | None

    @property
    def open(self) -> bool:
        return self.status is ReviewStatus.OPEN


@dataclass(frozen=True, slots=True)
class DecisionRecorded:
    """The index's answer to a decision: `child_key` survives a merge (the left key when the
    children were kept apart)."""

    review_id: str
    status: ReviewStatus
    child_key: str


def well_formed_review_id(value: str) -> str | None:
    """`value` if it has the form of a review id (what reaches the index's URL and the audit
    log); None for anything else, which the pages answer as not found."""
    return value if REVIEW_ID_FORM.fullmatch(value) else None


# Reading the index's answers. Anything unexpected is the index failing, not the person: the
# edge shows "the child index is not available" and logs the kind of failure only.


def _invalid(what: str) -> ChildIndexUnavailable:
    return ChildIndexUnavailable(f"the child index answered with {what}")


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"a {name} that is not text")
    return value.strip() or None


def _time(body: Mapping[str, Any], name: str) -> dt.datetime | None:
    value = body.get(name)
    if value is None:
        return None
    parsed = parse_time(value)
    if parsed is None:
        raise _invalid(f"a {name} that is not a time")
    return parsed


def _evidence(body: object) -> Evidence:
    if not isinstance(body, Mapping):
        raise _invalid("a record that is not an object")
    return Evidence(
        agency=_text(body, "agency") or "",
        received_at=_time(body, "received_at"),
        given_name=_text(body, "given_name"),
        family_name=_text(body, "family_name"),
        sex=_text(body, "sex"),
        date_of_birth=_text(body, "date_of_birth"),
        postcode=_text(body, "postcode"),
        nhs_number=_text(body, "nhs_number"),
        upn=_text(body, "upn"),
        la_child_id=_text(body, "la_child_id"),
    )


def _side(body: object) -> ReviewSide:
    if not isinstance(body, Mapping):
        raise _invalid("a side that is not an object")
    key = body.get("child_key")
    records = body.get("records")
    if not isinstance(key, str) or not key or not isinstance(records, list):
        raise _invalid("a side without its child key or records")
    return ReviewSide(key, tuple(_evidence(r) for r in records))


def review_from_json(body: object) -> Review:
    """A Review from the index's JSON; ChildIndexUnavailable for an answer of another shape."""
    if not isinstance(body, Mapping):
        raise _invalid("a review that is not an object")
    review_id = body.get("review_id")
    if not isinstance(review_id, str) or well_formed_review_id(review_id) is None:
        raise _invalid("a review without a well-formed id")
    try:
        status = ReviewStatus(str(body.get("status")))
        probability = float(body["match_probability"])
    except (KeyError, TypeError, ValueError):
        raise _invalid("a review without its status or match probability") from None
    return Review(
        review_id=review_id,
        status=status,
        match_probability=probability,
        created_at=_time(body, "created_at"),
        left=_side(body.get("left")),
        right=_side(body.get("right")),
        decided_by=_text(body, "decided_by"),
        decided_at=_time(body, "decided_at"),
        rationale=_text(body, "rationale"),
    )


def reviews_from_json(body: object) -> list[Review]:
    reviews = body.get("reviews") if isinstance(body, Mapping) else None
    if not isinstance(reviews, list):
        raise _invalid("a list of reviews that is not a list")
    return [review_from_json(r) for r in reviews]


def decision_recorded_from_json(body: object) -> DecisionRecorded:
    if not isinstance(body, Mapping):
        raise _invalid("a decision answer that is not an object")
    try:
        status = ReviewStatus(str(body.get("status")))
    except ValueError:
        raise _invalid("a decision answer without a status") from None
    review_id, child_key = body.get("review_id"), body.get("child_key")
    if not isinstance(review_id, str) or not isinstance(child_key, str) or not child_key:
        raise _invalid("a decision answer without its review or child key")
    return DecisionRecorded(review_id, status, child_key)


# What the pages show.


def _name(value: str) -> str:
    return " ".join(value.split()).casefold()


def _compact(value: str) -> str:
    return "".join(value.split()).upper()


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _nhs_text(value: str) -> str:
    digits = _digits(value)
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else value


def _date_text(value: str) -> str:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return value
    return f"{day.day} {day.strftime('%b %Y')}"


_SEX_TEXT = {"F": "Female", "M": "Male"}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    label: str
    same: Callable[[str], str]
    """What two values are compared as (spacing and case never make a difference)."""
    text: Callable[[str], str] = str


EVIDENCE_FIELDS = (
    _Field("given_name", "Given name", _name),
    _Field("family_name", "Family name", _name),
    _Field("sex", "Sex", _compact, lambda v: _SEX_TEXT.get(v.upper(), v)),
    _Field("date_of_birth", "Date of birth", _compact, _date_text),
    _Field("postcode", "Postcode", _compact, str.upper),
    _Field("nhs_number", "NHS number", _digits, _nhs_text),
    _Field("upn", "UPN", _compact),
    _Field("la_child_id", "LA child id", _compact),
)


@dataclass(frozen=True, slots=True)
class EvidenceCell:
    label: str
    text: str
    differs: bool
    """No record on the other side has this value, and the other side has some value."""
    given: bool


@dataclass(frozen=True, slots=True)
class EvidenceColumn:
    """One record: who sent it, when, and its identifiers."""

    agency: str
    received: str
    cells: tuple[EvidenceCell, ...]


@dataclass(frozen=True, slots=True)
class ReviewView:
    review_id: str
    probability_text: str
    created_text: str
    status_text: str
    open: bool
    left: tuple[EvidenceColumn, ...]
    right: tuple[EvidenceColumn, ...]
    differences: tuple[str, ...]
    """Labels of the fields where the two sides disagree."""
    decided_text: str | None
    rationale: str | None


@dataclass(frozen=True, slots=True)
class ReviewRow:
    review_id: str
    probability_text: str
    created_text: str
    status_text: str
    left_name: str
    right_name: str
    left_agencies: str
    right_agencies: str


def _values(records: Sequence[Evidence], spec: _Field) -> set[str]:
    found = (getattr(r, spec.name) for r in records)
    return {spec.same(v) for v in found if v}


def _columns(
    records: Sequence[Evidence], other: Sequence[Evidence], agencies: Mapping[str, str]
) -> tuple[EvidenceColumn, ...]:
    theirs = {spec.name: _values(other, spec) for spec in EVIDENCE_FIELDS}
    columns = []
    for record in records:
        cells = []
        for spec in EVIDENCE_FIELDS:
            value = getattr(record, spec.name)
            if not value:
                cells.append(EvidenceCell(spec.label, "Not given", differs=False, given=False))
                continue
            other_values = theirs[spec.name]
            differs = bool(other_values) and spec.same(value) not in other_values
            cells.append(EvidenceCell(spec.label, spec.text(value), differs, given=True))
        columns.append(
            EvidenceColumn(
                agency=agency_text(record.agency, agencies) if record.agency else "Not given",
                received=when_text(record.received_at) if record.received_at else "Not given",
                cells=tuple(cells),
            )
        )
    return tuple(columns)


def _probability_text(probability: float) -> str:
    return f"{max(0.0, min(1.0, probability)):.0%}"


def _decided_text(review: Review, *, viewer_subject: str | None) -> str | None:
    if review.open:
        return None
    who = "you" if review.decided_by and review.decided_by == viewer_subject else "someone else"
    when = f" on {when_text(review.decided_at)}" if review.decided_at else ""
    return f"{_STATUS_TEXT[review.status]}, by {who}{when}."


def review_view(
    review: Review, *, agencies: Mapping[str, str], viewer_subject: str | None = None
) -> ReviewView:
    left = review.left.records
    right = review.right.records
    differences = tuple(
        spec.label
        for spec in EVIDENCE_FIELDS
        if (mine := _values(left, spec)) and (theirs := _values(right, spec)) and not mine & theirs
    )
    return ReviewView(
        review_id=review.review_id,
        probability_text=_probability_text(review.match_probability),
        created_text=when_text(review.created_at) if review.created_at else "Not given",
        status_text=_STATUS_TEXT[review.status],
        open=review.open,
        left=_columns(left, right, agencies),
        right=_columns(right, left, agencies),
        differences=differences,
        decided_text=_decided_text(review, viewer_subject=viewer_subject),
        rationale=review.rationale,
    )


def _side_name(records: Sequence[Evidence]) -> str:
    for record in records:
        name = " ".join(n for n in (record.given_name, record.family_name) if n)
        if name:
            return name
    return "Name not given"


def _side_agencies(records: Sequence[Evidence], agencies: Mapping[str, str]) -> str:
    names = dict.fromkeys(agency_text(r.agency, agencies) for r in records if r.agency)
    return "; ".join(names) or "Not given"


def review_row(review: Review, *, agencies: Mapping[str, str]) -> ReviewRow:
    return ReviewRow(
        review_id=review.review_id,
        probability_text=_probability_text(review.match_probability),
        created_text=when_text(review.created_at) if review.created_at else "Not given",
        status_text=_STATUS_TEXT[review.status],
        left_name=_side_name(review.left.records),
        right_name=_side_name(review.right.records),
        left_agencies=_side_agencies(review.left.records, agencies),
        right_agencies=_side_agencies(review.right.records, agencies),
    )


# The answer.


@dataclass(frozen=True, slots=True)
class LinkageAnswer:
    same_child: bool
    rationale: str

    @property
    def status(self) -> ReviewStatus:
        return ReviewStatus.SAME_CHILD if self.same_child else ReviewStatus.NOT_SAME_CHILD


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or ()
    return values[0].strip() if values else ""


_ANSWERS = {"same": True, "not-same": False}


def validate_linkage_answer(
    form: Mapping[str, Sequence[str]],
) -> LinkageAnswer | list[FieldProblem]:
    """The answer, or the problems with the form (each naming the control to fix)."""
    problems = []
    answer = _one(form, "answer")
    if answer not in _ANSWERS:
        problems.append(
            FieldProblem("answer-same", "Select whether these records are the same child")
        )
    rationale = _one(form, "rationale")
    if len(rationale) < MIN_LINKAGE_RATIONALE:
        problems.append(
            FieldProblem(
                "rationale",
                "Enter why you decided this, and on what evidence "
                f"(at least {MIN_LINKAGE_RATIONALE} characters)",
            )
        )
    elif len(rationale) > MAX_LINKAGE_RATIONALE:
        problems.append(
            FieldProblem(
                "rationale", f"The rationale must be {MAX_LINKAGE_RATIONALE:,} characters or fewer"
            )
        )
    if problems:
        return problems
    return LinkageAnswer(same_child=_ANSWERS[answer], rationale=rationale)
