"""Triage decisions: the form's rules, and the MASH_DECISION notice it becomes."""

from __future__ import annotations

import pytest

from services.console.domain.decisions import (
    DecisionInput,
    DecisionOrigin,
    mash_decision_notice,
    validate_decision,
)
from services.console.errors import ChildNotIdentifiable
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.notice import encode_notice, notice_id_for
from services.hubkit.settings import REPO_ROOT
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
    assert _fields(refused) == {"family_agreement"}
    agreed = validate_decision(
        form(outcome="EARLY_HELP", family_agreement="yes"), decidable=[CONTACT]
    )
    assert isinstance(agreed, DecisionInput)
    assert agreed.family_agreement


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
        form(outcome="EARLY_HELP", family_agreement="yes", rag="GREEN"), decidable=[CONTACT]
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
    assert notice["risk"]["level"] == "LOW"
