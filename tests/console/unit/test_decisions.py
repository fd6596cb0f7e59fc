"""Triage decisions: the form's rules, and the MASH_DECISION notice it becomes."""

from __future__ import annotations

import pytest

from services.console.domain.decisions import (
    DecisionInput,
    DecisionOrigin,
    EarlyHelpChoice,
    early_help_choices,
    mash_decision_notice,
    referring_organisations,
    validate_decision,
)
from services.console.domain.feed import FeedEntry
from services.console.errors import ChildNotIdentifiable
from services.console.runtime import early_help_roles
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.notice import encode_notice, notice_id_for
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.topology import SubscriberEntry, load_topology
from tests.console.factories import NOW, entry

ORIGIN = DecisionOrigin(
    agency="MASH",
    organisation_code="MASH-E09000099",
    contact_role="MASH manager",
    contact_organisation="Synthetic Borough MASH",
    contact_telephone="0300 000 0001",
)
CONTACT = "6f1d3c2e-0000-5000-8000-000000000001"
RATIONALE = "Police and health information together show a pattern of harm."


def form(**fields: str | list[str]) -> dict[str, list[str]]:
    base: dict[str, str | list[str]] = {
        "rag": "RED",
        "outcome": "S47_STRATEGY_DISCUSSION",
        "rationale": RATIONALE,
        "family_informed": "no",
        "family_not_informed_reason": "Telling them could put the child at risk.",
        "related": [CONTACT],
        "agreed_actions": "Strategy discussion today\n\nPolice to attend",
    }
    base.update(fields)
    return {k: v if isinstance(v, list) else [v] for k, v in base.items()}


def test_a_complete_decision_is_accepted() -> None:
    decision = validate_decision(form(), decidable=[CONTACT])
    assert decision == DecisionInput(
        rag="RED",
        outcome="S47_STRATEGY_DISCUSSION",
        rationale=RATIONALE,
        family_agreement=False,
        family_informed=False,
        family_not_informed_reason="Telling them could put the child at risk.",
        related_notice_ids=(CONTACT,),
        agreed_actions=("Strategy discussion today", "Police to attend"),
    )


def _fields(result: object) -> set[str]:
    assert isinstance(result, list), result
    return {p.field for p in result}


def test_early_help_needs_the_familys_agreement() -> None:
    refused = validate_decision(form(outcome="EARLY_HELP"), decidable=[CONTACT])
    assert _fields(refused) == {"family_agreement"}  # no organisation asked for yet
    agreed = validate_decision(
        form(outcome="EARLY_HELP", family_agreement="yes", early_help_organisation="VCS-SYN002"),
        decidable=[CONTACT],
    )
    assert isinstance(agreed, DecisionInput)
    assert agreed.family_agreement
    assert agreed.early_help_organisation == "VCS-SYN002"


def _messages(result: object) -> dict[str, str]:
    assert isinstance(result, list), result
    return {p.field: p.message for p in result}


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "Enter the organisation code of the early help lead professional"),
        ("   ", "Enter the organisation code of the early help lead professional"),
        ("Synthetic Children's Charity", "as its code, for example VCS-SYN002"),
    ],
)
def test_agreed_early_help_names_the_organisation_code_it_goes_to(typed: str, says: str) -> None:
    # No early help subscriber in the policy data: the form asks for a code.
    result = validate_decision(
        form(outcome="EARLY_HELP", family_agreement="yes", early_help_organisation=typed),
        decidable=[CONTACT],
    )
    messages = _messages(result)
    assert set(messages) == {"early_help_organisation"}
    assert says in messages["early_help_organisation"]


CHOICES = (
    EarlyHelpChoice("VCS-SYN002", "Early help lead, Synthetic Family Support (VCS-SYN002)"),
    EarlyHelpChoice("LA-E09000099", "Early help hub, Synthetic Borough (LA-E09000099)"),
)


def test_with_early_help_subscribers_the_organisation_is_one_of_them() -> None:
    chosen = validate_decision(
        form(outcome="EARLY_HELP", family_agreement="yes", early_help_organisation="LA-E09000099"),
        decidable=[CONTACT],
        early_help=CHOICES,
    )
    assert isinstance(chosen, DecisionInput)
    assert chosen.early_help_organisation == "LA-E09000099"
    for value in ("", "VCS-SYN999"):  # nothing chosen, or one the hub cannot route to
        refused = validate_decision(
            form(outcome="EARLY_HELP", family_agreement="yes", early_help_organisation=value),
            decidable=[CONTACT],
            early_help=CHOICES,
        )
        assert _messages(refused) == {
            "early_help_organisation": "Select the early help organisation: early help goes "
            "only to the organisation you choose"
        }


@pytest.mark.parametrize("outcome", ["S17_ASSESSMENT", "S47_STRATEGY_DISCUSSION", "NFA"])
def test_other_outcomes_ignore_an_early_help_organisation(outcome: str) -> None:
    decision = validate_decision(
        form(outcome=outcome, early_help_organisation="VCS-SYN002"), decidable=[CONTACT]
    )
    assert isinstance(decision, DecisionInput)
    assert decision.early_help_organisation is None


def _subscriber(sid: str, organisation: str, role: str) -> SubscriberEntry:
    return SubscriberEntry(
        subscriber_id=sid,
        agency="VOLUNTARY_SECTOR",
        organisation=organisation,
        role=role,
        team="EARLY_HELP",
        inside_mash=False,
        purposes=("EARLY_HELP_SUPPORT",),
        contact=f"Early help lead, {organisation}, 0300 000 0999",
    )


def test_early_help_choices_are_the_organisations_of_early_help_subscribers() -> None:
    subscribers = [
        _subscriber("eh-b", "VCS-SYN003", "EARLY_HELP_WORKER"),
        _subscriber("eh-a", "VCS-SYN002", "EARLY_HELP_WORKER"),
        _subscriber("eh-a2", "VCS-SYN002", "EARLY_HELP_WORKER"),  # one choice per organisation
        _subscriber("rhi", "VCS-SYN001", "RETURN_INTERVIEW_WORKER"),
    ]
    choices = early_help_choices(subscribers, {"EARLY_HELP_WORKER"})
    assert [c.organisation for c in choices] == ["VCS-SYN002", "VCS-SYN003"]
    assert choices[0].text == "Early help lead, VCS-SYN002, 0300 000 0999 (VCS-SYN002)"


def test_early_help_roles_come_from_the_policy_bundle() -> None:
    roles = early_help_roles(HubSettings())
    assert roles == {"EARLY_HELP_WORKER"}
    # The bundle has no early help subscriber today: the form falls back to a typed code.
    topology = load_topology(REPO_ROOT / "policies")
    assert early_help_choices(topology.subscribers, roles) == ()


@pytest.mark.parametrize("outcome", ["S47_STRATEGY_DISCUSSION", "IMMEDIATE_PROTECTION"])
def test_s47_and_immediate_protection_need_no_agreement(outcome: str) -> None:
    decision = validate_decision(form(outcome=outcome, family_agreement="yes"), decidable=[CONTACT])
    assert isinstance(decision, DecisionInput)
    assert decision.family_agreement is False  # the box means nothing outside early help


def test_every_problem_is_reported_at_once() -> None:
    result = validate_decision(
        form(rag="PURPLE", outcome="", rationale="too short", family_informed="", related=[]),
        decidable=[CONTACT],
    )
    assert _fields(result) == {
        "rag-red",
        "outcome-nfa",
        "rationale",
        "family_informed-yes",
        "related-0",
    }


def test_family_not_told_needs_a_reason() -> None:
    result = validate_decision(form(family_not_informed_reason=""), decidable=[CONTACT])
    assert _fields(result) == {"family_not_informed_reason"}


def test_only_notices_still_awaiting_a_decision_may_be_covered() -> None:
    result = validate_decision(form(related=[CONTACT, "someone-elses"]), decidable=[CONTACT])
    assert _fields(result) == {"related-0"}


def test_too_many_or_too_long_actions_are_refused() -> None:
    result = validate_decision(form(agreed_actions="x" * 201), decidable=[CONTACT])
    assert _fields(result) == {"agreed_actions"}


def test_the_notice_is_a_valid_mash_decision_that_encodes_with_the_schemas() -> None:
    contact = entry(
        notice_id=CONTACT,
        concerns=[{"code": "DOMESTIC_ABUSE", "census_factor": "3A"}],
        extra={},
    )
    decision = validate_decision(form(), decidable=[CONTACT])
    assert isinstance(decision, DecisionInput)
    notice = mash_decision_notice(
        decision,
        child_entries=[contact],
        origin=ORIGIN,
        decided_by_role="MASH manager",
        source_reference="MASH-DEC-token1",
        now=NOW,
    )
    assert notice["notice_id"] == notice_id_for(
        agency="MASH", organisation_code="MASH-E09000099", source_reference="MASH-DEC-token1"
    )
    assert notice["subject"]["linkage_key"] == contact.linkage_key
    assert (notice["subject"]["given_name"], notice["subject"]["family_name"]) == (
        "Avery",
        "Dunmore",
    )
    assert notice["detail"]["related_notice_ids"] == [CONTACT]
    assert notice["concerns"] == [{"code": "DOMESTIC_ABUSE", "census_factor": "3A"}]
    assert notice["risk"] == {"level": "HIGH", "immediate_danger": False}
    assert notice["family_informed"]["informed"] is False
    assert notice["consent"]["status"] == "NOT_REQUIRED"
    catalog = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
    decoded = catalog.decode(encode_notice(catalog, notice), MessageType.NOTICE)
    assert decoded["detail"]["outcome"] == "S47_STRATEGY_DISCUSSION"


def test_the_same_form_submission_is_the_same_notice() -> None:
    contact = entry(notice_id=CONTACT)
    decision = validate_decision(form(), decidable=[CONTACT])
    assert isinstance(decision, DecisionInput)
    make = {
        "child_entries": [contact],
        "origin": ORIGIN,
        "decided_by_role": "MASH manager",
        "source_reference": "MASH-DEC-same",
        "now": NOW,
    }
    assert (
        mash_decision_notice(decision, **make)["notice_id"]  # type: ignore[arg-type]
        == mash_decision_notice(decision, **make)["notice_id"]  # type: ignore[arg-type]
    )


def test_a_decision_needs_the_childs_name() -> None:
    nameless = entry(notice_id=CONTACT, given_name=None, family_name=None)
    decision = validate_decision(form(), decidable=[CONTACT])
    assert isinstance(decision, DecisionInput)
    with pytest.raises(ChildNotIdentifiable):
        mash_decision_notice(
            decision,
            child_entries=[nameless],
            origin=ORIGIN,
            decided_by_role="MASH manager",
            source_reference="MASH-DEC-x",
            now=NOW,
        )


def test_early_help_rests_on_the_familys_consent() -> None:
    contact = entry(notice_id=CONTACT)
    decision = validate_decision(
        form(
            outcome="EARLY_HELP",
            family_agreement="yes",
            rag="GREEN",
            early_help_organisation="VCS-SYN002",
        ),
        decidable=[CONTACT],
    )
    assert isinstance(decision, DecisionInput)
    notice = mash_decision_notice(
        decision,
        child_entries=[contact],
        origin=ORIGIN,
        decided_by_role="MASH manager",
        source_reference="MASH-DEC-eh",
        now=NOW,
    )
    assert notice["consent"] == {"status": "GIVEN", "reason_not_sought": None}
    assert notice["detail"]["family_agreement"] is True
    assert notice["detail"]["early_help_organisation"] == "VCS-SYN002"
    assert notice["risk"]["level"] == "LOW"
    catalog = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
    decoded = catalog.decode(encode_notice(catalog, notice), MessageType.NOTICE)
    assert decoded["detail"]["early_help_organisation"] == "VCS-SYN002"


def _from(agency: str, organisation: str | None, notice_id: str | None = None) -> FeedEntry:
    source: dict[str, str] = {
        "agency": agency,
        "source_reference": "REF-1",
        "source_system": "Synthetic",
    }
    if organisation is not None:
        source["organisation_code"] = organisation
    return entry(source_agency=agency, notice_id=notice_id, extra={"source": source})


RELATED = [
    "6f1d3c2e-0000-5000-8000-00000000000a",
    "6f1d3c2e-0000-5000-8000-00000000000b",
    "6f1d3c2e-0000-5000-8000-00000000000c",
    "6f1d3c2e-0000-5000-8000-00000000000d",
]


def test_the_decision_tells_each_referring_organisation_once() -> None:
    entries = [
        _from("POLICE", "POL-XX01", RELATED[0]),
        _from("HEALTH", "NHS-RXX00", RELATED[1]),
        _from("POLICE", "POL-XX01", RELATED[2]),  # the same force twice: told once
        _from("MASH", "MASH-E09000099", RELATED[3]),  # the MASH needs no feedback from itself
        _from("CHILDRENS_SERVICES", "LA-E09000099"),  # not a notice the decision covers
    ]
    decision = validate_decision(form(related=RELATED), decidable=RELATED)
    assert isinstance(decision, DecisionInput)
    notice = mash_decision_notice(
        decision,
        child_entries=entries,
        origin=ORIGIN,
        decided_by_role="MASH manager",
        source_reference="MASH-DEC-referrers",
        now=NOW,
    )
    assert notice["detail"]["referring_organisations"] == ["NHS-RXX00", "POL-XX01"]
    assert notice["detail"]["early_help_organisation"] is None  # not early help
    catalog = SchemaCatalog(REPO_ROOT / "schemas" / "avro")
    decoded = catalog.decode(encode_notice(catalog, notice), MessageType.NOTICE)
    assert decoded["detail"]["referring_organisations"] == ["NHS-RXX00", "POL-XX01"]


def test_a_referrer_the_decider_cannot_see_is_not_guessed() -> None:
    withheld = _from("POLICE", None, RELATED[0])  # source organisation not in the view
    own = _from("MASH", "MASH-E09000099", RELATED[1])
    assert referring_organisations([withheld, own], origin=ORIGIN) is None
