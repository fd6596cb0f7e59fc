from typing import Any

import pytest

from services.gateway.domain.decisions import parse_decisions
from services.gateway.errors import PolicyResultInvalid
from services.hubkit.sharing_decisions import SharingOutcome


def _entry(**overrides: Any) -> dict[str, Any]:
    entry = {
        "outcome": "PARTIAL",
        "permitted_fields": [
            "notice_id",
            "notice_type",
            "subject.linkage_key",
            "narrative.summary",
        ],
        "purpose": "SAFEGUARDING_TRIAGE",
        "lawful_basis": {
            "article6": "6(1)(e) public task",
            "special_category_condition": None,
            "dpa_part3": None,
            "statutory_gateway": "Children Act 2004 s11",
        },
        "isa_clause": "ISA-MASH 4.2",
        "rule_ids": ["R14", "R2"],
        "explanation": "Shared because ...",
    }
    entry.update(overrides)
    return entry


def test_well_formed_result_parses() -> None:
    decisions = parse_decisions(
        {"a": _entry(), "b": _entry(outcome="DENY", permitted_fields=[])}, ["a", "b"]
    )
    assert decisions["a"].outcome is SharingOutcome.PARTIAL
    assert decisions["a"].rule_ids == ("R14", "R2")
    assert decisions["a"].discloses
    assert not decisions["b"].discloses


@pytest.mark.parametrize(
    "result",
    [None, True, [], "PERMIT", {"a": None}, {"b": _entry()}],
    ids=["undefined", "boolean", "list", "string", "null-entry", "missing-subscriber"],
)
def test_results_of_the_wrong_shape_are_refused(result: Any) -> None:
    with pytest.raises(PolicyResultInvalid):
        parse_decisions(result, ["a"])


@pytest.mark.parametrize(
    "overrides",
    [
        {"outcome": "ALLOW"},
        {"outcome": None},
        {"permitted_fields": "subject"},
        {"permitted_fields": [1]},
        {"lawful_basis": None},
        {"lawful_basis": {"article6": "", "statutory_gateway": "x"}},
        {"explanation": ""},
        {"purpose": None},
        {"outcome": "DENY"},  # DENY with fields permitted
    ],
)
def test_malformed_entries_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(PolicyResultInvalid):
        parse_decisions({"a": _entry(**overrides)}, ["a"])


@pytest.mark.parametrize("missing", ["notice_id", "notice_type", "subject.linkage_key"])
def test_a_disclosure_must_permit_what_the_feed_item_names(missing: str) -> None:
    entry = _entry()
    entry["permitted_fields"] = [f for f in entry["permitted_fields"] if f != missing]
    with pytest.raises(PolicyResultInvalid, match=missing):
        parse_decisions({"a": entry}, ["a"])


def test_the_art_10_condition_and_the_recipients_basis_are_optional() -> None:
    absent = parse_decisions({"a": _entry()}, ["a"])["a"].lawful_basis
    assert (absent.criminal_offence_condition, absent.recipient_basis) == (None, None)
    entry = _entry()
    entry["lawful_basis"] = {
        **entry["lawful_basis"],
        "criminal_offence_condition": "UK GDPR Art 10 with DPA 2018 Sch 1 para 18",
        "recipient_basis": None,
    }
    basis = parse_decisions({"a": entry}, ["a"])["a"].lawful_basis
    assert basis.criminal_offence_condition == "UK GDPR Art 10 with DPA 2018 Sch 1 para 18"
    assert basis.recipient_basis is None
    assert basis.as_record()["criminal_offence_condition"] == basis.criminal_offence_condition
    assert "recipient_basis" in basis.as_record()


@pytest.mark.parametrize("key", ["criminal_offence_condition", "recipient_basis"])
@pytest.mark.parametrize("value", [1, ["para 18"], {"text": "para 18"}, True])
def test_a_lawful_basis_field_of_the_wrong_type_is_refused(key: str, value: Any) -> None:
    entry = _entry()
    entry["lawful_basis"] = {**entry["lawful_basis"], key: value}
    with pytest.raises(PolicyResultInvalid, match=key):
        parse_decisions({"a": entry}, ["a"])


def test_a_parsed_decision_carries_no_gateway_reason() -> None:
    assert parse_decisions({"a": _entry()}, ["a"])["a"].reason_code is None


def test_handling_caveat_is_optional_and_must_be_a_classification() -> None:
    decisions = parse_decisions(
        {"a": _entry(), "b": _entry(handling_caveat="OFFICIAL_SENSITIVE")}, ["a", "b"]
    )
    assert decisions["a"].handling_caveat is None
    assert decisions["b"].handling_caveat == "OFFICIAL_SENSITIVE"
    with pytest.raises(PolicyResultInvalid, match="handling_caveat"):
        parse_decisions({"a": _entry(handling_caveat="SECRET")}, ["a"])
