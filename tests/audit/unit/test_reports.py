"""IG reports from logged records: decision views, the subject access report (third parties
protected) and the record of processing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given, settings

from services.audit.linkage import (
    MODEL_DECIDER,
    LinkageChanged,
    LinkageChangeKind,
    keys_of_child,
    linkage_history,
)
from services.audit.reports import (
    THIRD_PARTY_LABEL,
    DecisionPublic,
    LogPositionPublic,
    decision_view,
    field_labels,
    processing_summary,
    render_subject_access_html,
    subject_access_report,
)
from services.audit.storage import ProcessingCount, StoredLeaf
from services.hubkit.audit_trail import read_logged_record
from tests.audit.linkage_changes import KEYS, histories, merge, split
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


# -- a child with more than one key -----------------------------------------------------------


def _decisions_under(keys: tuple[str, ...]) -> dict[str, list[DecisionPublic]]:
    """Six decisions (five disclosures, one refusal) about one notice under each key."""
    gen = notices(8)
    out: dict[str, list[DecisionPublic]] = {}
    for n, key in enumerate(keys):
        notice: dict[str, Any] = gen.notice("SAFEGUARDING_CONTACT")
        notice = {**notice, "subject": {**notice["subject"], "linkage_key": key}}
        records = audit_records(notice, decided_at=FIXED_NOW + dt.timedelta(hours=n))
        out[key] = _views(_leaves(records, first_index=6 * n))
    return out


DECISIONS = _decisions_under(KEYS)
ALL_DECISIONS = [d for ds in DECISIONS.values() for d in ds]


def _report(key: str, history: list[LinkageChanged]):  # type: ignore[no-untyped-def]
    keys = keys_of_child(history, key)
    return subject_access_report(
        subject_linkage_key=key,
        decisions=ALL_DECISIONS,
        generated_at=FIXED_NOW,
        log=LOG,
        subject_keys=keys,
        linkage=linkage_history(history, keys),
    )


def _leaf_indices(report) -> set[int]:  # type: ignore[no-untyped-def]
    return {d.leaf_index for d in report.disclosures} | {n.leaf_index for n in report.not_shared}


def test_the_report_for_a_merged_child_covers_every_key_and_says_how_they_were_joined() -> None:
    a, b, c = KEYS[:3]
    joined = dataclasses.replace(
        merge(a, b, c), decided_by="mash-manager-1", review_id="rv-17", match_probability=0.91
    )
    by_model = dataclasses.replace(merge(a, b), decided_by=MODEL_DECIDER)
    separated = split(a, c)
    history = [by_model, joined, separated]
    report = _report(b, history)

    assert report.subject_linkage_key == b
    assert report.subject_keys == [b, a]  # the key asked about first
    assert _leaf_indices(report) == set(range(12))  # a's six decisions and b's six
    assert {d.subject_linkage_key for d in report.disclosures} == {a, b}
    assert len(report.disclosures) == 10
    assert [n.subject_linkage_key for n in report.not_shared] == [a, b]
    model, staff, split_view = report.linkage_changes
    assert (model.kind, model.references, model.other_references) == ("MERGE", [a, b], 0)
    assert model.decided_by == "the hub's matching model, automatically"
    assert model.staff_id is None
    assert (staff.references, staff.other_references) == ([a, b], 1)
    assert staff.staff_id == "mash-manager-1"
    assert staff.decided_by == "a member of MASH staff (staff id mash-manager-1), after review"
    assert (staff.review_id, staff.match_probability) == ("rv-17", 0.91)
    assert "later found to be about someone else" in staff.description
    assert (split_view.kind, split_view.references, split_view.other_references) == (
        "SPLIT",
        [a],
        1,
    )
    # The split-off key is someone else's: never shown, its decisions not included.
    assert c not in report.model_dump_json()
    assert any("every reference the hub now holds for you" in note for note in report.notes)

    page = render_subject_access_html(report)
    assert "Records joined or separated" in page
    assert "this report covers all of them" in page
    assert f"<code>{a}</code>" in page
    assert f"ref {a[:8]}" in page
    assert c not in page
    assert "the hub&#39;s matching model, automatically" in page


def test_the_report_for_the_split_off_key_covers_only_it() -> None:
    a, b, c = KEYS[:3]
    history = [merge(a, b, c), split(a, c)]
    report = _report(c, history)
    assert report.subject_keys == [c]
    assert _leaf_indices(report) == set(range(12, 18))
    assert [(v.kind, v.references, v.other_references) for v in report.linkage_changes] == [
        ("MERGE", [c], 2),
        ("SPLIT", [c], 1),
    ]
    assert a not in report.model_dump_json()
    assert b not in report.model_dump_json()


def test_a_child_with_one_key_gets_the_report_it_always_got() -> None:
    report = _report(KEYS[4], [merge(KEYS[0], KEYS[1])])
    assert report.subject_keys == [KEYS[4]]
    assert report.linkage_changes == []
    assert len(report.notes) == 3
    page = render_subject_access_html(report)
    assert "Records joined or separated" not in page
    assert "ref " not in page


@settings(max_examples=100, deadline=None)
@given(history=histories())
def test_asking_with_any_key_of_a_child_gives_the_same_report(
    history: list[LinkageChanged],
) -> None:
    for key in KEYS:
        report = _report(key, history)
        keys = set(report.subject_keys)
        assert keys == keys_of_child(history, key)
        expected = {d.leaf_index for k in keys for d in DECISIONS[k]}
        assert _leaf_indices(report) == expected
        for other in keys:
            again = _report(other, history)
            assert set(again.subject_keys) == keys
            assert _leaf_indices(again) == expected
            assert again.linkage_changes == report.linkage_changes
        # The merges and splits shown name only this child's keys.
        for view in report.linkage_changes:
            assert set(view.references) <= keys
            assert view.kind in {k.value for k in LinkageChangeKind}
