"""IG reports from logged records: decision views, the subject access report (third parties
protected) and the record of processing."""

from __future__ import annotations

import dataclasses
import datetime as dt

from services.audit.reports import (
    THIRD_PARTY_LABEL,
    LogPositionPublic,
    decision_view,
    field_labels,
    processing_summary,
    render_subject_access_html,
    subject_access_report,
)
from services.audit.storage import ProcessingCount, StoredLeaf
from services.hubkit.audit_trail import read_logged_record
from tests.audit.records import audit_records, encode, logged
from tests.factories import FIXED_NOW, catalog, notices

CATALOG = catalog()
LOG = LogPositionPublic(tree_size=12, root_hash="ab" * 32, checkpoint_tree_size=12)


def _leaves(records, first_index: int = 0) -> list[StoredLeaf]:  # type: ignore[no-untyped-def]
    out = []
    for i, record in enumerate(records):
        entry = logged(encode(CATALOG, record))
        out.append(
            StoredLeaf(
                leaf_index=first_index + i,
                leaf_hash=entry.leaf_hash,
                data=entry.data,
                kind=entry.kind,
                entry_id=entry.entry_id,
                duplicate_of=None,
                columns=entry.columns,
                source=None,
                appended_at_ms=0,
            )
        )
    return out


def _views(leaves: list[StoredLeaf]):  # type: ignore[no-untyped-def]
    return [decision_view(leaf, read_logged_record(CATALOG, leaf.data).record) for leaf in leaves]


def test_field_labels_collapse_third_parties_and_read_plainly() -> None:
    labels = field_labels(
        ["subject.given_name", "referrer", "third_parties", "detail.return_time", "referrer"]
    )
    assert labels == [
        "details of the event (return time)",
        "your first name",
        THIRD_PARTY_LABEL,
    ]
    assert field_labels(["subject.nhs_number"]) == ["your NHS number"]


def test_decision_view_carries_the_whole_record_and_its_leaf() -> None:
    notice = notices(3).notice("SAFEGUARDING_CONTACT")
    leaves = _leaves(audit_records(notice), first_index=40)
    view = _views(leaves)[3]
    assert view.leaf_index == 43
    assert view.recipient is not None
    assert view.recipient.subscriber_id == "responsible-la"
    assert view.outcome == "PARTIAL"
    assert view.lawful_basis is not None
    assert view.lawful_basis.text == (
        "UK GDPR Art 6(1)(e) public task; 9(2)(g) with DPA 2018 Sch 1 para 18; "
        "Children Act 2004 s11"
    )
    assert "referrer" in view.fields_withheld
    assert view.decided_at == FIXED_NOW


def test_subject_access_report_lists_disclosures_and_refusals_for_one_child_only() -> None:
    gen = notices(4)
    child_notice = gen.notice("SAFEGUARDING_CONTACT")
    later = gen.notice("SAFEGUARDING_CONTACT")  # another child
    mine = audit_records(child_notice)
    theirs = audit_records(later, decided_at=FIXED_NOW + dt.timedelta(hours=1))
    views = _views(_leaves([*mine, *theirs]))
    key = child_notice["subject"]["linkage_key"]
    report = subject_access_report(
        subject_linkage_key=key, decisions=views, generated_at=FIXED_NOW, log=LOG
    )
    assert len(report.disclosures) == 5
    assert [n.recipient_role for n in report.not_shared] == ["RETURN_INTERVIEW_WORKER"]
    assert all(d.leaf_index < 6 for d in report.disclosures)
    la = next(d for d in report.disclosures if d.recipient_role == "SOCIAL_WORKER")
    assert la.recipient_organisation == "LA-E09000099"
    assert la.purpose == "CHILD_PROTECTION_ENQUIRY"
    assert la.lawful_basis is not None
    assert la.lawful_basis.startswith("UK GDPR Art 6(1)(e)")
    assert "the full account of the concern" in la.information_withheld
    assert THIRD_PARTY_LABEL in la.information_withheld
    assert la.decided_by == "the hub's sharing rules, automatically"
    assert "LA-E09000099 (SOCIAL_WORKER)" in report.recipients
    # Nothing in the report names a third party or repeats a practitioner's free text.
    text = report.model_dump_json()
    for leaked in ("Synthetic Referrer", "07700 900000", "referrer", "third_parties"):
        assert leaked not in text


def test_subject_access_html_is_readable_and_escaped() -> None:
    notice = notices(5).notice("SAFEGUARDING_CONTACT")
    records = audit_records(notice)
    records[1] = {**records[1], "explanation": "<script>alert(1)</script> Shared because R2."}
    views = _views(_leaves(records))
    report = subject_access_report(
        subject_linkage_key=notice["subject"]["linkage_key"],
        decisions=views,
        generated_at=FIXED_NOW,
        log=LOG,
    )
    page = render_subject_access_html(report)
    assert page.startswith("<!doctype html>")
    assert "Who your information was shared with" in page
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "mash manager" in page


def test_record_of_processing_rows_and_totals() -> None:
    base = ProcessingCount(
        "SAFEGUARDING_TRIAGE",
        "mash-manager",
        "CHILDRENS_SERVICES",
        "LA-E09000099",
        "MASH_MANAGER",
        "PERMIT",
        4,
    )
    counts = [
        base,
        dataclasses.replace(base, outcome="PARTIAL", count=2),
        ProcessingCount(None, "school-dsl", "EDUCATION", "URN-999999", "DSL", "DENY", 3),
    ]
    summary = processing_summary(counts, generated_at=FIXED_NOW, period_from=None, period_to=None)
    assert [(r.purpose, r.decisions, r.disclosures) for r in summary.rows] == [
        (None, 3, 0),
        ("SAFEGUARDING_TRIAGE", 6, 6),
    ]
    assert summary.rows[1].outcomes == {"PERMIT": 4, "PARTIAL": 2, "FLAG_ONLY": 0, "DENY": 0}
    assert summary.totals == {"PERMIT": 4, "PARTIAL": 2, "FLAG_ONLY": 0, "DENY": 3}
