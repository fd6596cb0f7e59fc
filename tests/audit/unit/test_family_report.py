"""The family's subject access report (issue 17): plain words from the detailed report, both
versions, what was withheld and on what exemption, refusals, the IG officer's review, and a
child's version a 13-year-old can read."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import textstat

from services.audit.family_report import (
    Audience,
    FamilyReportPublic,
    ReviewInvalid,
    apply_review,
    family_report,
    organisation_names,
    render_family_html,
    source_agencies,
)
from services.audit.reports import (
    LogPositionPublic,
    SubjectAccessReportPublic,
    decision_view,
    subject_access_report,
)
from services.audit.storage import StoredLeaf
from services.hubkit.audit_trail import read_logged_record
from services.hubkit.topology import load_topology
from tests.audit.records import audit_records, encode, logged
from tests.factories import FIXED_NOW, POLICIES, catalog, notices

CATALOG = catalog()
LOG = LogPositionPublic(tree_size=12, root_hash="ab" * 32, checkpoint_tree_size=12)


def _sar(*notice_types: str) -> SubjectAccessReportPublic:
    gen = notices(7)
    first = gen.notice(notice_types[0])
    key = first["subject"]["linkage_key"]
    records = []
    for i, kind in enumerate(notice_types):
        notice = first if i == 0 else gen.notice(kind)
        notice["subject"]["linkage_key"] = key
        records += audit_records(notice, decided_at=FIXED_NOW + dt.timedelta(days=i))
    views = []
    for i, record in enumerate(records):
        entry = logged(encode(CATALOG, record))
        leaf = StoredLeaf(
            leaf_index=i,
            leaf_hash=entry.leaf_hash,
            data=entry.data,
            kind=entry.kind,
            entry_id=entry.entry_id,
            duplicate_of=None,
            columns=entry.columns,
            source=None,
            appended_at_ms=0,
        )
        views.append(decision_view(leaf, read_logged_record(CATALOG, leaf.data).record))
    return subject_access_report(
        subject_linkage_key=key, decisions=views, generated_at=FIXED_NOW, log=LOG
    )


SAR = _sar("SAFEGUARDING_CONTACT", "POLICE_INTELLIGENCE", "HEALTH_SAFEGUARDING_ALERT")


def _text(report: FamilyReportPublic) -> str:
    """The page's words, without markup; a heading, cell or list item ends a sentence, as it
    does for a reader."""
    body = render_family_html(report).split("<main>", 1)[1]
    body = re.sub(r"</(td|th|li|h1|h2|p|caption)>", ". ", body)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))
    return html.unescape(re.sub(r"(\s*\.\s*)+", ". ", text)).strip()


def test_every_disclosure_and_refusal_in_the_log_is_a_line_in_plain_words() -> None:
    report = family_report(SAR, audience=Audience.PARENT)
    # Every disclosure is in exactly one row (rows group the same organisation, role, kinds,
    # purpose and law).
    assert sum(t.times for t in report.told) == len(SAR.disclosures) > 0
    assert len(report.not_told) == len(SAR.not_shared) > 0
    social_worker = next(t for t in report.told if t.who.startswith("a social worker"))
    assert social_worker.why == "to check if your child was safe (a child protection enquiry)"
    assert "public bodies" in social_worker.law
    assert "UK GDPR Art 6(1)(e)" in social_worker.law
    assert {d.recipient_organisation for d in SAR.disclosures} <= set(report.holders)
    # No codes for the family: no rule ids, leaf indexes or pseudonymous keys.
    text = _text(report)
    assert SAR.subject_linkage_key not in text
    assert "MASH_MANAGER" not in text
    assert "#0" not in text


def test_withheld_information_names_its_exemption_and_which_need_the_ig_officer() -> None:
    report = family_report(SAR, audience=Audience.CHILD)
    laws = {w.exemption.code: w.exemption.law for w in report.withheld}
    # The contact's referrer and full account were withheld from recipients, the intelligence
    # is police information, the alert came from health; notes are never included.
    assert laws["THIRD_PARTY"] == "DPA 2018 Sch 2 para 16"
    assert laws["CRIME"] == "DPA 2018 Sch 2 para 2"
    assert laws["SERIOUS_HARM_HEALTH"] == "DPA 2018 Sch 3 para 5"
    assert "PRACTITIONER_NOTES" in laws
    assert all(w.exemption.needs_review for w in report.withheld)
    only_contact = family_report(_sar("SAFEGUARDING_CONTACT"), audience=Audience.CHILD)
    assert "CRIME" not in {w.exemption.code for w in only_contact.withheld}


def test_the_two_versions_address_their_reader() -> None:
    child = _text(family_report(SAR, audience=Audience.CHILD))
    parent = _text(family_report(SAR, audience=Audience.PARENT))
    assert "Who was told about you." in child
    assert "your child" not in child
    assert "Who was told about your child" in parent


def test_the_childs_version_reads_at_age_13_or_below() -> None:
    text = _text(family_report(SAR, audience=Audience.CHILD))
    # Legal citations are there for the adult who checks them; the sentences must read simply.
    prose = re.sub(r"(The law:[^.]*\.)|(DPA 2018 [^.]*)|(UK GDPR[^.;]*[.;])", " ", text)
    grade = textstat.flesch_kincaid_grade(prose)
    assert grade <= 8, grade
    # A measure that can fail: dense legal text scores far above it.
    assert textstat.flesch_kincaid_grade(SAR.notes[0] + " " + SAR.notes[2]) > 8


def test_review_leaves_out_rows_with_a_reason_and_records_the_approval() -> None:
    draft = family_report(SAR, audience=Audience.PARENT)
    assert draft.review is None
    crime = next(w for w in draft.withheld if w.exemption.code == "CRIME")
    first_told = draft.told[0]
    approved = apply_review(
        draft,
        left_out={crime.row_id: "neither confirm nor deny", first_told.row_id: "third party"},
        approved_by="ig-officer-1",
        approved_at=FIXED_NOW,
    )
    assert approved.review is not None
    assert approved.review.approved_by == "ig-officer-1"
    assert crime.row_id not in approved.row_ids()
    assert first_told.row_id not in approved.row_ids()
    assert len(approved.told) == len(draft.told) - 1
    assert "Police intelligence" not in _text(approved)
    assert "approved by our information governance team" in _text(approved)


def test_a_review_naming_an_unknown_row_or_without_a_reason_is_refused() -> None:
    draft = family_report(SAR, audience=Audience.PARENT)
    with pytest.raises(ReviewInvalid, match="no row told-nope"):
        apply_review(draft, left_out={"told-nope": "x"}, approved_by="ig", approved_at=FIXED_NOW)
    with pytest.raises(ReviewInvalid, match="give a reason"):
        apply_review(
            draft, left_out={draft.told[0].row_id: " "}, approved_by="ig", approved_at=FIXED_NOW
        )


def test_row_ids_are_stable_between_drafts() -> None:
    one = family_report(SAR, audience=Audience.PARENT).row_ids()
    two = family_report(SAR, audience=Audience.CHILD).row_ids()
    assert one == two
    assert len(set(one)) == len(one)


def test_the_review_page_has_a_labelled_choice_per_row_and_the_page_is_accessible() -> None:
    draft = family_report(SAR, audience=Audience.PARENT)
    page = render_family_html(draft, for_review=True, review_action="/approve")
    assert '<html lang="en-GB">' in page
    for row in draft.row_ids():
        assert f'value="{row}"' in page
        assert f'<label for="reason-{row}">' in page
    assert page.count("<h1>") == 1
    assert '<th scope="col">' in page


def test_organisations_by_name_and_who_was_told_grouped() -> None:
    topology = load_topology(POLICIES)
    names = organisation_names(topology)
    assert names["LA-E09000099"] == "Synthetic Borough Children's Services"
    assert names["URN-999999"] == "Synthetic Academy"  # a school: no agency, named by contact
    report = family_report(
        SAR,
        audience=Audience.PARENT,
        organisation_names=names,
        source_agencies=source_agencies(topology),
    )
    text = _text(report)
    for code in {d.recipient_organisation for d in SAR.disclosures}:
        assert code not in text
        assert names[code] in report.holders
    # Three notices, each told to the same teams for the same reasons: one row per team,
    # three times each, first to last date.
    teams = {(d.recipient_organisation, d.recipient_role) for d in SAR.disclosures}
    assert len(report.told) == len(teams) < len(SAR.disclosures)
    grouped = report.told[0]
    assert grouped.times == 3
    assert grouped.last is not None
    assert grouped.last > grouped.when
    assert f"{grouped.when.day} Nov 2026 to {grouped.last.day} Nov 2026 (3 times)" in (
        render_family_html(report)
    )
