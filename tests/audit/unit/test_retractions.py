"""Receipts of a withdrawn notice (issue 18), pure: deliveries and acknowledgements folded
into who was told and who confirmed; a withdrawn disclosure in the DPO's report and the
family's, with its original row kept."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import textstat

from services.audit.family_report import Audience, family_report
from services.audit.indexer import EntryKind, IndexColumns
from services.audit.reports import (
    LogPositionPublic,
    SubjectAccessReportPublic,
    decision_view,
    subject_access_report,
)
from services.audit.retractions import (
    acknowledged_retraction_id,
    originating_agency,
    retraction_receipts,
    withdrawals,
)
from services.audit.storage import StoredLeaf
from services.hubkit.retraction import RetractionReason, retraction_id_for
from tests.audit.records import TOPOLOGY, audit_records
from tests.audit.retraction_records import RECIPIENTS, acknowledgement, deliveries
from tests.factories import FIXED_NOW, notices

AGENCIES = {a.organisation: a.code for a in TOPOLOGY.agencies}


def _notice(kind: str = "HEALTH_SAFEGUARDING_ALERT") -> dict[str, Any]:
    return notices(uuid.uuid4().int % 10**6).notice(kind)


def test_receipts_list_every_delivery_and_who_has_not_acknowledged() -> None:
    notice = _notice()
    acks = [
        acknowledgement(notice, "school-dsl", roles=("DSL", "TEACHER")),
        acknowledgement(notice, "mash-manager", at=FIXED_NOW + dt.timedelta(days=3)),
    ]
    receipts = retraction_receipts(
        notice["notice_id"], deliveries=deliveries(notice), acknowledgements=acks
    )
    assert receipts is not None
    assert receipts.retraction_id == retraction_id_for(notice["notice_id"])
    assert receipts.reason == "WRONG_CHILD"
    assert [d.subscriber_id for d in receipts.delivered] == sorted(RECIPIENTS)
    assert [(a.subscriber_id, a.role) for a in receipts.acknowledged] == [
        ("school-dsl", "DSL"),
        ("mash-manager", "SOCIAL_WORKER"),
    ]
    assert receipts.not_acknowledged == sorted(set(RECIPIENTS) - {"school-dsl", "mash-manager"})


def test_a_repeat_counts_once_at_its_first_time_and_other_notices_do_not_count() -> None:
    notice, other = _notice(), _notice()
    early = FIXED_NOW + dt.timedelta(days=1)
    again = deliveries(notice, to=["school-dsl"], at=early + dt.timedelta(hours=5))
    receipts = retraction_receipts(
        notice["notice_id"],
        deliveries=[*deliveries(notice, to=["school-dsl"], at=early), *again, *deliveries(other)],
        acknowledgements=[
            acknowledgement(notice, "school-dsl", at=early + dt.timedelta(hours=9)),
            acknowledgement(notice, "school-dsl", at=early + dt.timedelta(hours=8)),
            acknowledgement(other, "mash-manager"),
        ],
    )
    assert receipts is not None
    assert [(d.subscriber_id, d.delivered_at) for d in receipts.delivered] == [
        ("school-dsl", early)
    ]
    assert [a.acknowledged_at for a in receipts.acknowledged] == [early + dt.timedelta(hours=8)]
    assert receipts.not_acknowledged == []


def test_an_acknowledgement_of_another_retraction_id_is_not_a_receipt() -> None:
    notice = _notice()
    stray = acknowledgement(notice, "school-dsl", retraction_id=str(uuid.uuid4()))
    assert acknowledged_retraction_id(stray) != retraction_id_for(notice["notice_id"])
    receipts = retraction_receipts(
        notice["notice_id"], deliveries=deliveries(notice), acknowledgements=[stray]
    )
    assert receipts is not None
    assert receipts.acknowledged == []
    # Without a recorded id, the notice's one retraction is meant.
    bare = {**acknowledgement(notice, "school-dsl"), "retraction_id": None}
    assert acknowledged_retraction_id(bare) == retraction_id_for(notice["notice_id"])


def test_a_notice_never_withdrawn_has_no_receipts() -> None:
    notice = _notice()
    assert (
        retraction_receipts(
            notice["notice_id"],
            deliveries=audit_records(notice),  # its sharing decisions only
            acknowledgements=[acknowledgement(notice, "school-dsl")],
        )
        is None
    )


def test_the_sender_is_the_originating_controllers_agency() -> None:
    health, police = _notice(), _notice("SAFEGUARDING_CONTACT")
    assert originating_agency(audit_records(health), AGENCIES) == "HEALTH"
    assert originating_agency(deliveries(police), AGENCIES) == "POLICE"
    assert originating_agency([{"originating_controller": "NOT-AN-ORG"}], AGENCIES) is None


def _leaf(index: int) -> StoredLeaf:
    return StoredLeaf(
        leaf_index=index,
        leaf_hash=b"\0" * 32,
        data=b"",
        kind=EntryKind.DECISION,
        entry_id=str(index),
        duplicate_of=None,
        columns=IndexColumns(),
        source=None,
        appended_at_ms=0,
    )


def _report(notice: dict[str, Any], acks: list[dict[str, Any]]) -> SubjectAccessReportPublic:
    receipts = retraction_receipts(
        notice["notice_id"], deliveries=deliveries(notice), acknowledgements=acks
    )
    assert receipts is not None
    return subject_access_report(
        subject_linkage_key=notice["subject"]["linkage_key"],
        decisions=[decision_view(_leaf(i), r) for i, r in enumerate(audit_records(notice))],
        generated_at=FIXED_NOW,
        log=LogPositionPublic(tree_size=6, root_hash="00", checkpoint_tree_size=None),
        withdrawals=withdrawals(receipts, agency="HEALTH"),
    )


def test_a_withdrawn_disclosure_stays_in_the_report_marked_withdrawn() -> None:
    notice = _notice()
    report = _report(notice, [acknowledgement(notice, "school-dsl")])
    assert len(report.disclosures) == len(RECIPIENTS)  # every original row stays
    marked = {d.recipient_organisation + d.recipient_role: d.withdrawn for d in report.disclosures}
    assert all(w is not None for w in marked.values())
    texts = {w.text for w in marked.values() if w}
    assert texts == {"Withdrawn by Health: wrong child"}
    confirmed = [d for d in report.disclosures if d.withdrawn and d.withdrawn.acknowledged_at]
    assert len(confirmed) == 1
    assert any("withdrew" in note for note in report.notes)
    # Nothing was withdrawn: nothing is marked.
    plain = subject_access_report(
        subject_linkage_key=notice["subject"]["linkage_key"],
        decisions=[decision_view(_leaf(i), r) for i, r in enumerate(audit_records(notice))],
        generated_at=FIXED_NOW,
        log=LogPositionPublic(tree_size=6, root_hash="00", checkpoint_tree_size=None),
    )
    assert all(d.withdrawn is None for d in plain.disclosures)


def test_the_family_reads_what_was_taken_back_in_plain_words() -> None:
    notice = _notice()
    report = _report(notice, [acknowledgement(notice, "school-dsl")])
    for audience in Audience:
        family = family_report(
            report,
            audience=audience,
            source_agencies=AGENCIES,
            organisation_names={a.organisation: a.name for a in TOPOLOGY.agencies},
        )
        assert family.told  # who was told stays
        assert len(family.withdrawn) == len(RECIPIENTS)
        assert {w.by for w in family.withdrawn} == {"Synthetic NHS Trust"}
        assert {w.why for w in family.withdrawn} == {
            "it was about a different child, not you"
            if audience is Audience.CHILD
            else "it was about a different child, not your child"
        }
        said = [w.confirmed for w in family.withdrawn]
        assert sum(s.startswith("They said they had removed it") for s in said) == 1
        assert all(w.row_id in family.row_ids() for w in family.withdrawn)
        if audience is Audience.CHILD:
            text = " ".join(f"{w.why}. {w.confirmed}." for w in family.withdrawn)
            assert textstat.flesch_kincaid_grade(text) <= 8


def test_every_reason_has_family_words() -> None:
    from services.audit import family_report as module

    assert set(module._WITHDRAWN_WORDS) == {r.value for r in RetractionReason}
