"""Emergency access ('break-glass', issue 18) reviewed by the owning agency's IG officer. Pure.

Every grant the gateway makes is a SHARING_DECISION audit record with `break_glass` true,
`reason_code` BREAK_GLASS, the requester's role as `human_decision_maker`, the reason's words
as `human_rationale` and "<REASON>: <justification>" as `break_glass_justification`
(`services.hubkit.break_glass`). The agency that sent the notice (its records'
`originating_controller`, an organisation code, through the topology's agencies) owns the
information, so its IG officer (IG role, `agency` claim that agency) reviews each grant once:
JUSTIFIED, NOT_JUSTIFIED or ESCALATED, with a note. An IG officer of another agency neither
sees nor reviews it; an officer whose token names no agency owns no grants.

Here: a logged record -> a `Grant` (or None); an officer's review checked (`ReviewInvalid`,
`NotOwningAgency`); the queue an officer sees, how many are not yet reviewed, and the counts
the decision mix shows (grants by recipient and by review outcome).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from services.audit.errors import AuditError
from services.hubkit.break_glass import BREAK_GLASS_REASON_CODE, EMERGENCY_ACCESS_PURPOSE

__all__ = [
    "BREAK_GLASS_REASON_CODE",
    "EMERGENCY_ACCESS_PURPOSE",
    "NOTE_MAX_CHARS",
    "NOT_REVIEWED",
    "OUTCOME_WORDS",
    "AlreadyReviewed",
    "BreakGlassQueuePublic",
    "Grant",
    "GrantPublic",
    "NotOwningAgency",
    "Review",
    "ReviewInvalid",
    "ReviewOutcome",
    "ReviewPublic",
    "checked_review",
    "grant_from_record",
    "grants_by_recipient_and_review",
    "review_queue",
    "unreviewed",
]

NOTE_MAX_CHARS = 1000
NOT_REVIEWED = "NOT_REVIEWED"
"""The review column of a grant nobody has reviewed yet (decision mix)."""


class ReviewOutcome(StrEnum):
    JUSTIFIED = "JUSTIFIED"
    NOT_JUSTIFIED = "NOT_JUSTIFIED"
    ESCALATED = "ESCALATED"
    """Passed on (to the Caldicott Guardian / SIRO, or the agency's own process)."""


OUTCOME_WORDS: Mapping[str, str] = {
    ReviewOutcome.JUSTIFIED: "Justified",
    ReviewOutcome.NOT_JUSTIFIED: "Not justified",
    ReviewOutcome.ESCALATED: "Escalated",
    NOT_REVIEWED: "Not reviewed yet",
}


class ReviewInvalid(AuditError):
    """The review cannot be kept as written (unknown outcome, no note, a note too long)."""


class NotOwningAgency(AuditError):
    """The grant is over another agency's information: only that agency's IG officer reviews it."""


class AlreadyReviewed(AuditError):
    """A grant is reviewed once; the first review stands."""


@dataclass(frozen=True, slots=True)
class Grant:
    """One emergency access grant as its audit record states it."""

    decision_id: str
    leaf_index: int
    notice_id: str | None
    subject_linkage_key: str | None
    desk: str
    """The recipient subscriber id: the desk whose person asked."""
    requester_role: str | None
    reason: str | None
    """BreakGlassReason symbol (the part of the justification before the first ': ')."""
    reason_words: str | None
    justification: str
    granted_at: dt.datetime
    paths: tuple[str, ...]
    owning_organisation: str | None
    owning_agency: str | None
    """Agency code of the notice's sender; None if the topology does not know it."""


@dataclass(frozen=True, slots=True)
class Review:
    decision_id: str
    outcome: ReviewOutcome
    note: str
    reviewed_by: str
    """The reviewer's recorded actor (token subject)."""
    agency: str
    reviewed_at: dt.datetime


def grant_from_record(
    leaf_index: int, record: Mapping[str, Any], agency_of_organisation: Mapping[str, str]
) -> Grant | None:
    """The grant a decoded AuditRecord states, or None when it is no break-glass grant."""
    if record.get("event") != "SHARING_DECISION" or record.get("break_glass") is not True:
        return None
    recipient = record.get("recipient") or {}
    text = str(record.get("break_glass_justification") or "")
    reason, sep, rest = text.partition(": ")
    if not sep or not reason.replace("_", "").isalpha() or not reason.isupper():
        reason, rest = "", text
    decided = record["decided_at"]
    owner = record.get("originating_controller")
    return Grant(
        decision_id=str(record["decision_id"]),
        leaf_index=leaf_index,
        notice_id=record.get("notice_id"),
        subject_linkage_key=record.get("subject_linkage_key"),
        desk=str(recipient.get("subscriber_id") or "unknown"),
        requester_role=record.get("human_decision_maker"),
        reason=reason or None,
        reason_words=record.get("human_rationale"),
        justification=rest,
        granted_at=decided if decided.tzinfo else decided.replace(tzinfo=dt.UTC),
        paths=tuple(sorted(record.get("fields_disclosed") or ())),
        owning_organisation=owner,
        owning_agency=agency_of_organisation.get(str(owner)) if owner else None,
    )


def checked_review(
    grant: Grant,
    *,
    officer_agency: str | None,
    outcome: str,
    note: str,
    reviewed_by: str,
    reviewed_at: dt.datetime,
) -> Review:
    """The review to keep, or why not (the owner first: another agency learns nothing more)."""
    if officer_agency is None or grant.owning_agency != officer_agency:
        raise NotOwningAgency(
            "this emergency access was to another agency's information: its own IG officer "
            "reviews it"
        )
    try:
        chosen = ReviewOutcome(outcome.strip().upper())
    except ValueError:
        raise ReviewInvalid(
            "choose the outcome: " + ", ".join(o.value for o in ReviewOutcome)
        ) from None
    text = note.strip()
    if not text:
        raise ReviewInvalid("write a note saying why (it is kept with the review)")
    if len(text) > NOTE_MAX_CHARS:
        raise ReviewInvalid(f"keep the note to {NOTE_MAX_CHARS} characters (it has {len(text)})")
    return Review(
        decision_id=grant.decision_id,
        outcome=chosen,
        note=text,
        reviewed_by=reviewed_by,
        agency=officer_agency,
        reviewed_at=reviewed_at,
    )


class ReviewPublic(BaseModel):
    outcome: ReviewOutcome
    note: str
    reviewed_by: str
    reviewed_at: dt.datetime


class GrantPublic(BaseModel):
    decision_id: str
    leaf_index: int
    notice_id: str | None
    subject_linkage_key: str | None
    desk: str
    requester_role: str | None
    reason: str | None
    reason_words: str | None
    justification: str
    granted_at: dt.datetime
    paths: list[str]
    owning_agency: str | None
    review: ReviewPublic | None
    """None until the owning agency's IG officer has reviewed it."""


class BreakGlassQueuePublic(BaseModel):
    agency: str | None
    """The officer's agency (their token's claim): the owner of the grants listed."""
    not_reviewed: int
    items: list[GrantPublic]
    """Not yet reviewed first (oldest first), then reviewed (newest grant first)."""


def _public(grant: Grant, review: Review | None) -> GrantPublic:
    return GrantPublic(
        decision_id=grant.decision_id,
        leaf_index=grant.leaf_index,
        notice_id=grant.notice_id,
        subject_linkage_key=grant.subject_linkage_key,
        desk=grant.desk,
        requester_role=grant.requester_role,
        reason=grant.reason,
        reason_words=grant.reason_words,
        justification=grant.justification,
        granted_at=grant.granted_at,
        paths=list(grant.paths),
        owning_agency=grant.owning_agency,
        review=None
        if review is None
        else ReviewPublic(
            outcome=review.outcome,
            note=review.note,
            reviewed_by=review.reviewed_by,
            reviewed_at=review.reviewed_at,
        ),
    )


def _unique(grants: Iterable[Grant]) -> list[Grant]:
    # A grant logged twice (a re-delivered record) is one grant, at its first leaf.
    seen: dict[str, Grant] = {}
    for grant in sorted(grants, key=lambda g: g.leaf_index):
        seen.setdefault(grant.decision_id, grant)
    return list(seen.values())


def review_queue(
    grants: Iterable[Grant], reviews: Mapping[str, Review], *, agency: str | None
) -> BreakGlassQueuePublic:
    """The grants over `agency`'s information, with their reviews (none without an agency)."""
    own = [g for g in _unique(grants) if agency is not None and g.owning_agency == agency]
    waiting = sorted((g for g in own if g.decision_id not in reviews), key=lambda g: g.granted_at)
    done = sorted(
        (g for g in own if g.decision_id in reviews), key=lambda g: g.granted_at, reverse=True
    )
    return BreakGlassQueuePublic(
        agency=agency,
        not_reviewed=len(waiting),
        items=[_public(g, reviews.get(g.decision_id)) for g in (*waiting, *done)],
    )


def unreviewed(
    grants: Iterable[Grant], reviews: Mapping[str, Review], *, agency: str | None
) -> int:
    """How many grants over `agency`'s information wait for review."""
    if agency is None:
        return 0
    return sum(
        1 for g in _unique(grants) if g.owning_agency == agency and g.decision_id not in reviews
    )


def grants_by_recipient_and_review(
    grants: Iterable[Grant], reviews: Mapping[str, Review]
) -> dict[tuple[str, str], int]:
    """(desk, review outcome or NOT_REVIEWED) -> grants: the decision mix's break-glass view."""
    counts: Counter[tuple[str, str]] = Counter()
    for grant in _unique(grants):
        review = reviews.get(grant.decision_id)
        counts[grant.desk, review.outcome.value if review else NOT_REVIEWED] += 1
    return dict(sorted(counts.items()))
