"""An item and a child's chronology: what is shown, what is held elsewhere, and why."""

from __future__ import annotations

import datetime as dt

from services.console.domain.deadlines import Timescales
from services.console.domain.feed import FeedEntry
from services.console.domain.projection import FeedProjection
from services.console.domain.views import Status, child_view, field_rows, item_view
from tests.console.factories import AGENCIES, CHILD, NOW, decision, entry


def _projection(*items: FeedEntry) -> FeedProjection:
    projection = FeedProjection("mash-manager")
    for item in items:
        projection.apply(item)
    return projection


def test_withheld_fields_are_shown_as_held_with_who_to_contact() -> None:
    partial = entry(
        outcome="PARTIAL",
        withheld=("narrative.full_account", "intelligence_grading"),
        source_agency="POLICE",
    )
    view = item_view(
        partial, _projection(partial), now=NOW, timescales=Timescales(), agencies=AGENCIES
    )
    assert view.withheld is not None
    assert view.withheld.sentence == (
        "Information held by Police (Synthetic Constabulary), contact Public protection "
        "unit, Synthetic Constabulary, 0300 000 0100."
    )
    assert view.withheld.fields == ("Full account", "Intelligence grading")
    assert not view.withheld.flag_only


def test_flag_only_says_confidential_information_is_held() -> None:
    flag = entry(outcome="FLAG_ONLY", withheld=("narrative.summary",), summary=None)
    projection = _projection(flag)
    chronology = child_view([flag], projection, timescales=Timescales(), agencies=AGENCIES)
    (shown,) = chronology.entries
    assert shown.withheld is not None
    assert shown.withheld.flag_only
    assert shown.headline == "Confidential information held (content not shared with you)"


def test_nothing_withheld_shows_no_held_panel() -> None:
    full = entry()
    view = item_view(full, _projection(full), now=NOW, timescales=Timescales(), agencies=AGENCIES)
    assert view.withheld is None


def test_why_am_i_seeing_this_gives_the_explanation_and_lawful_basis() -> None:
    item = entry()
    why = item_view(
        item, _projection(item), now=NOW, timescales=Timescales(), agencies=AGENCIES
    ).why
    assert why.explanation == "Shared because the MASH triages contacts (R1, R2)."
    assert why.purpose == "Safeguarding triage"
    assert [(r.label, r.value) for r in why.lawful_basis] == [
        ("UK GDPR Article 6", "UK GDPR Art 6(1)(e) public task"),
        ("Special category condition", "UK GDPR Art 9(2)(g)"),
        ("Statutory gateway", "Children Act 2004 s10 and s11"),
    ]
    assert (why.isa_clause, why.rules) == ("ISA-4.1", "R1, R2")


def test_field_rows_read_in_order_and_never_show_the_linkage_key() -> None:
    item = entry(
        extra={
            "referrer": {"name": "Synthetic Referrer", "role": "neighbour", "contact": "07700"},
            "intelligence_grading": {
                "scheme": "GRADING_3X5X2",
                "source_evaluation": "2",
                "intelligence_assessment": "B",
                "handling_code": "P",
            },
            "classification": "OFFICIAL_SENSITIVE",
        }
    )
    rows = {r.label: r.value for r in field_rows(item.view)}
    labels = list(rows)
    assert labels.index("Given name") < labels.index("Family name") < labels.index("Age")
    assert CHILD not in rows.values()
    assert rows["Referrer"] == "Synthetic Referrer (neighbour), 07700"
    assert rows["Intelligence grading"] == "3x5x2: source 2, intelligence B, handling P"
    assert rows["Classification"] == "OFFICIAL-SENSITIVE"
    assert rows["Concerns"] == "Neglect"


def test_child_view_is_newest_first_across_agencies_with_what_awaits_a_decision() -> None:
    police = entry(source_agency="POLICE", created_at=NOW - dt.timedelta(days=2))
    health = entry(
        notice_type="HEALTH_SAFEGUARDING_ALERT",
        source_agency="HEALTH",
        created_at=NOW - dt.timedelta(days=1),
        family_name="DUNMORE",
    )
    status_change = entry(
        notice_type="CSC_STATUS_CHANGE", source_agency="CHILDRENS_SERVICES", created_at=NOW
    )
    made = decision(police, received_at=NOW + dt.timedelta(minutes=5))
    projection = _projection(police, health, status_change, made)
    view = child_view(
        projection.for_child(CHILD), projection, timescales=Timescales(), agencies=AGENCIES
    )
    assert [e.notice_id for e in view.entries] == [
        made.notice_id,
        status_change.notice_id,
        health.notice_id,
        police.notice_id,
    ]
    assert view.entries[0].headline == "Decision: Strategy discussion (s47), RAG Red"
    assert view.entries[-1].triage.status is Status.DECIDED
    assert [nid for nid, _ in view.undecided] == [health.notice_id]
    assert view.header.name in ("Avery Dunmore", "Avery DUNMORE")
    assert "Health (Synthetic NHS Trust)" in view.header.agencies
    assert len(view.header.agencies) == 4


def test_the_lawful_basis_shows_art_10_and_the_recipients_basis_when_recorded() -> None:
    intel = entry(
        notice_type="POLICE_INTELLIGENCE",
        lawful_basis={
            "article6": "UK GDPR Art 6(1)(e) public task",
            "special_category_condition": None,
            "dpa_part3": "DPA 2018 Part 3, s35(5) and Sch 8 para 4",
            "statutory_gateway": "Children Act 2004 s11",
            "criminal_offence_condition": "UK GDPR Art 10 with DPA 2018 Sch 1 para 18",
            "recipient_basis": "UK GDPR Art 6(1)(e) and Art 9(2)(g) with Sch 1 para 18",
        },
    )
    why = item_view(
        intel, _projection(intel), now=NOW, timescales=Timescales(), agencies=AGENCIES
    ).why
    assert [r.label for r in why.lawful_basis] == [
        "UK GDPR Article 6",
        "DPA 2018 Part 3",
        "Criminal offence data (Art 10)",
        "Statutory gateway",
        "Recipient's basis",
    ]
    assert why.lawful_basis[2].value == "UK GDPR Art 10 with DPA 2018 Sch 1 para 18"


def test_an_official_sensitive_item_is_marked_before_its_content() -> None:
    intel = entry(
        notice_type="POLICE_INTELLIGENCE",
        extra={
            "classification": "OFFICIAL_SENSITIVE",
            "detail": {"sanitised_text": "Synthetic sanitised intelligence."},
        },
    )
    projection = _projection(intel)
    view = item_view(intel, projection, now=NOW, timescales=Timescales(), agencies=AGENCIES)
    assert view.marking is not None
    assert view.marking.text == "OFFICIAL-SENSITIVE"
    assert "need-to-know" in view.marking.caveat
    (shown,) = child_view([intel], projection, timescales=Timescales(), agencies=AGENCIES).entries
    assert shown.marking == view.marking


def test_official_is_not_marked() -> None:
    plain = entry(extra={"classification": "OFFICIAL"})
    unmarked = entry()  # classification not in the view
    for item in (plain, unmarked):
        view = item_view(
            item, _projection(item), now=NOW, timescales=Timescales(), agencies=AGENCIES
        )
        assert view.marking is None


def test_an_r8_episode_says_beside_the_absent_grade_that_it_is_treated_as_missing() -> None:
    episode = entry(
        notice_type="MISSING_EPISODE",
        risk="NO_APPARENT_RISK",
        rule_ids=("R1", "R2", "R8"),
        detail={"status": "REPORTED", "risk_grade": "NO_APPARENT_RISK"},
    )
    projection = _projection(episode)
    view = item_view(episode, projection, now=NOW, timescales=Timescales(), agencies=AGENCIES)
    rows = {r.label: r.value for r in view.fields}
    assert rows["Police risk grade"] == "No apparent risk (absent, treated as missing (R8))"
    assert view.triage.rag is not None
    assert (view.triage.rag.text, view.triage.rag.reason) == (
        "Amber (suggested)",
        "absent, treated as missing (R8)",
    )
    (shown,) = child_view([episode], projection, timescales=Timescales(), agencies=AGENCIES).entries
    assert ("Source's risk level", "No apparent risk (absent, treated as missing (R8))") in [
        (r.label, r.value) for r in shown.details
    ]


def test_a_decision_in_the_chronology_says_where_early_help_and_feedback_went() -> None:
    contact = entry()
    made = entry(
        notice_type="MASH_DECISION",
        source_agency="MASH",
        detail={
            "rag": "GREEN",
            "outcome": "EARLY_HELP",
            "rationale": "Synthetic rationale for the decision.",
            "family_agreement": True,
            "decided_by_role": "MASH manager",
            "related_notice_ids": [contact.notice_id],
            "agreed_actions": [],
            "referring_organisations": ["NHS-RXX00", "POL-XX01"],
            "early_help_organisation": "VCS-SYN002",
        },
    )
    projection = _projection(contact, made)
    view = child_view(
        projection.for_child(CHILD), projection, timescales=Timescales(), agencies=AGENCIES
    )
    (shown,) = [e for e in view.entries if e.notice_id == made.notice_id]
    details = {r.label: r.value for r in shown.details}
    assert details["Early help organisation"] == "VCS-SYN002"
    assert details["Outcome told to (referring organisations)"] == "NHS-RXX00; POL-XX01"
