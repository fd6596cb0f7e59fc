"""The IG officer's review of emergency access (issue 18), pure: which records are grants,
whose they are, what a review must hold, the queue, and the decision mix's counts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from services.audit.break_glass_review import (
    EMERGENCY_ACCESS_PURPOSE,
    NOT_REVIEWED,
    NOTE_MAX_CHARS,
    Grant,
    NotOwningAgency,
    Review,
    ReviewInvalid,
    ReviewOutcome,
    checked_review,
    grant_from_record,
    grants_by_recipient_and_review,
    review_queue,
    unreviewed,
)
from tests.audit.break_glass_records import RULES, grant_record
from tests.audit.records import TOPOLOGY, audit_records
from tests.factories import FIXED_NOW, notices

AGENCIES = {a.organisation: a.code for a in TOPOLOGY.agencies}
AT = FIXED_NOW + dt.timedelta(hours=1)


def _grant(notice: dict[str, Any], leaf: int = 0, **kw: Any) -> Grant:
    record = grant_record(notice, request_id=str(uuid.uuid4()), **kw)
    grant = grant_from_record(leaf, record, AGENCIES)
    assert grant is not None
    return grant


def _review(grant: Grant, agency: str, outcome: str = "JUSTIFIED", note: str = "ok") -> Review:
    return checked_review(
        grant, officer_agency=agency, outcome=outcome, note=note, reviewed_by="ig", reviewed_at=AT
    )


def test_a_grant_record_is_read_with_its_owner_reason_and_paths() -> None:
    health = notices(11).notice("HEALTH_SAFEGUARDING_ALERT")
    record = grant_record(
        health, request_id="r-1", reason="CHILD_PRESENTING_NOW", justification="At A&E: now."
    )
    grant = grant_from_record(7, record, AGENCIES)
    assert grant is not None
    assert grant.owning_agency == "HEALTH"
    assert grant.reason == "CHILD_PRESENTING_NOW"
    assert grant.reason_words == RULES.reasons["CHILD_PRESENTING_NOW"]
    assert grant.justification == "At A&E: now."  # split at the first ': ' only
    assert grant.desk == "mash-manager"
    assert grant.requester_role == "MASH_MANAGER"
    assert grant.paths == tuple(sorted(record["fields_disclosed"]))
    assert grant.paths
    assert not set(grant.paths) & RULES.never_paths


def test_ordinary_decisions_and_refusals_are_not_grants() -> None:
    notice = notices(12).notice("SAFEGUARDING_CONTACT")
    for record in audit_records(notice):
        assert grant_from_record(0, record, AGENCIES) is None
    refused = {**grant_record(notice, request_id="r"), "event": "ACCESS_REFUSED"}
    assert grant_from_record(0, refused, AGENCIES) is None
    unmarked = {**grant_record(notice, request_id="r"), "break_glass": False}
    assert grant_from_record(0, unmarked, AGENCIES) is None
    assert grant_record(notice, request_id="r")["purpose"] == EMERGENCY_ACCESS_PURPOSE


def test_only_the_owning_agencys_officer_may_review() -> None:
    grant = _grant(notices(13).notice("SAFEGUARDING_CONTACT"))  # sent by police
    assert grant.owning_agency == "POLICE"
    for other in ("HEALTH", "CHILDRENS_SERVICES", None):
        with pytest.raises(NotOwningAgency):
            checked_review(
                grant,
                officer_agency=other,
                outcome="JUSTIFIED",
                note="fine",
                reviewed_by="ig",
                reviewed_at=AT,
            )
    kept = _review(grant, "POLICE", "not_justified", "  No immediate risk was recorded.  ")
    assert kept.outcome is ReviewOutcome.NOT_JUSTIFIED
    assert kept.note == "No immediate risk was recorded."
    assert kept.agency == "POLICE"


@pytest.mark.parametrize(
    ("outcome", "note", "words"),
    [
        ("FINE", "a note", "choose the outcome"),
        ("", "a note", "choose the outcome"),
        ("JUSTIFIED", "   ", "write a note"),
        ("ESCALATED", "x" * (NOTE_MAX_CHARS + 1), f"{NOTE_MAX_CHARS} characters"),
    ],
)
def test_a_review_needs_an_outcome_and_a_short_note(outcome: str, note: str, words: str) -> None:
    grant = _grant(notices(14).notice("HEALTH_SAFEGUARDING_ALERT"))
    with pytest.raises(ReviewInvalid, match=words):
        _review(grant, "HEALTH", outcome, note)


def test_a_note_of_exactly_the_limit_is_kept() -> None:
    grant = _grant(notices(15).notice("HEALTH_SAFEGUARDING_ALERT"))
    assert len(_review(grant, "HEALTH", "ESCALATED", "y" * NOTE_MAX_CHARS).note) == NOTE_MAX_CHARS


def test_the_queue_holds_the_agencys_grants_waiting_first() -> None:
    gen = notices(16)
    health = gen.notice("HEALTH_SAFEGUARDING_ALERT")
    police = gen.notice("SAFEGUARDING_CONTACT")
    old = _grant(health, leaf=1, granted_at=FIXED_NOW)
    new = _grant(health, leaf=2, granted_at=FIXED_NOW + dt.timedelta(minutes=5))
    theirs = _grant(police, leaf=3)
    again = Grant(**{**{f: getattr(old, f) for f in old.__slots__}, "leaf_index": 9})
    reviews = {old.decision_id: _review(old, "HEALTH")}
    queue = review_queue([new, theirs, old, again], reviews, agency="HEALTH")
    assert queue.not_reviewed == 1
    assert [g.decision_id for g in queue.items] == [new.decision_id, old.decision_id]
    assert queue.items[1].review is not None
    assert queue.items[1].leaf_index == 1  # logged twice: one grant, its first leaf
    assert unreviewed([new, theirs, old], reviews, agency="HEALTH") == 1
    assert unreviewed([new, theirs, old], reviews, agency="POLICE") == 1
    assert review_queue([new, theirs], {}, agency=None).items == []
    assert unreviewed([new, theirs], {}, agency=None) == 0


def test_the_decision_mix_counts_grants_by_desk_and_review() -> None:
    gen = notices(17)
    health = gen.notice("HEALTH_SAFEGUARDING_ALERT")
    police = gen.notice("SAFEGUARDING_CONTACT")
    a = _grant(health, leaf=1)
    b = _grant(police, leaf=2)
    c = _grant(police, leaf=3, desk="mash-health-navigator")
    reviews = {a.decision_id: _review(a, "HEALTH", "NOT_JUSTIFIED", "no")}
    assert grants_by_recipient_and_review([a, b, c, a], reviews) == {
        ("mash-health-navigator", NOT_REVIEWED): 1,
        ("mash-manager", NOT_REVIEWED): 1,
        ("mash-manager", "NOT_JUSTIFIED"): 1,
    }


def test_the_gateway_writes_grants_under_the_purpose_the_queue_looks_for() -> None:
    gateway = pytest.importorskip("services.gateway.domain.break_glass")
    assert gateway.EMERGENCY_PURPOSE == EMERGENCY_ACCESS_PURPOSE
    assert gateway.BREAK_GLASS_REASON_CODE == "BREAK_GLASS"
