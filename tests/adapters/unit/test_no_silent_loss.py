"""Issue 21, without a broker: every shape of rich record maps whole into its notice; what an
adapter does not read is refused with a pointer naming it; an NRM referral names the record's
first responder; every problem of a record comes back at once."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from services.adapters.childrens_services.mapping import (
    map_csc_nrm_referral,
    map_csc_record,
    map_ssda903_row,
)
from services.adapters.childrens_services.models import CscNrmReferral, CscRecord, Ssda903MissingRow
from services.adapters.health.checks import bundle_problems
from services.adapters.health.elements import unread_elements
from services.adapters.health.mapping import map_fhir_bundle
from services.adapters.health.models import FhirBundle, narrative_text
from services.adapters.ingest.mapping import Mapped
from services.adapters.ingest.models import ContactPointIn
from services.adapters.ingest.problems import field_errors_from_validation
from services.adapters.police.mapping import map_police_nrm_referral, map_police_record
from services.adapters.police.models import PoliceNrmReferral, PoliceRecord
from services.adapters.voluntary_sector.mapping import map_vcs_update
from services.adapters.voluntary_sector.models import VcsUpdateForm
from tests.adapters.helpers import context, native
from tests.adapters.rich_records import ALIASES, SHAPES, not_carried, rich_record
from tests.adapters.round_trip import lost_values

_POLICE: TypeAdapter[Any] = TypeAdapter(PoliceRecord)
_CSC: TypeAdapter[Any] = TypeAdapter(CscRecord)


def _map(agency: str, shape: str, document: dict[str, Any]) -> Mapped:
    ctx = context(agency)
    if agency == "POLICE":
        if shape == "NRM":
            return map_police_nrm_referral(PoliceNrmReferral.model_validate(document), ctx)
        return map_police_record(_POLICE.validate_python(document), ctx)
    if agency == "HEALTH":
        return map_fhir_bundle(FhirBundle.model_validate(document), ctx)
    if agency == "CHILDRENS_SERVICES":
        if shape == "NRM":
            return map_csc_nrm_referral(CscNrmReferral.model_validate(document), ctx)
        return map_csc_record(_CSC.validate_python(document), ctx)
    return map_vcs_update(VcsUpdateForm.model_validate(document), ctx)


def _problems(validate: Callable[[Any], Any], document: Any) -> set[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        validate(document)
    return {
        (e.pointer, e.code) for e in field_errors_from_validation(caught.value.errors(), document)
    }


@pytest.mark.parametrize(("agency", "shape"), SHAPES)
def test_every_value_of_a_rich_record_reaches_its_notice(agency: str, shape: str) -> None:
    document = rich_record(native(seed=2200 + SHAPES.index((agency, shape))), agency, shape)
    mapped = _map(agency, shape, document)
    assert mapped.warnings == ()
    lost = lost_values(
        document, mapped.notice, not_carried=not_carried(agency, shape), aliases=ALIASES
    )
    assert lost == []


def test_the_round_trip_check_can_fail() -> None:
    document = rich_record(native(seed=2260), "POLICE", "PUBLIC_PROTECTION_NOTICE")
    notice = copy.deepcopy(_map("POLICE", "PUBLIC_PROTECTION_NOTICE", document).notice)
    notice["third_parties"][0]["organisation"] = None  # as if the mapping had dropped it
    notice["detail"]["children_in_household"] = 99
    lost = lost_values(
        document,
        notice,
        not_carried=not_carried("POLICE", "PUBLIC_PROTECTION_NOTICE"),
        aliases=ALIASES,
    )
    assert sorted(lost) == ["/children_in_household", "/third_parties/0/organisation"]


def test_a_flags_code_text_and_narrative_are_clinical_detail() -> None:
    document = rich_record(native(seed=2270), "HEALTH", "BUNDLE")
    notice = _map("HEALTH", "BUNDLE", document).notice
    lines = notice["detail"]["clinical_detail"].split("\n")
    assert "Flag text: known to children's services" in lines
    assert "Flag narrative: neglect concerns" in lines
    assert "Observation narrative: bruising." in lines
    assert notice["narrative"]["full_account"] == notice["detail"]["clinical_detail"]


def test_narrative_text_drops_markup_and_decodes_entities() -> None:
    div = '<div xmlns="http://www.w3.org/1999/xhtml"><p>Mother &amp; partner</p><br/>DV</div>'
    assert narrative_text(div) == "Mother & partner DV"


def test_the_synthetic_bundle_has_nothing_the_hub_does_not_read() -> None:
    records = native(seed=2280)
    assert unread_elements(records.health_bundle(records.child(looked_after=True))) == []


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        (
            lambda b: b["entry"].append({"resource": {"resourceType": "Organization"}}),
            "/entry/4/resource",
        ),
        (
            lambda b: b["entry"][0]["resource"]["address"][0].update(line=["1 Row"]),
            "/entry/0/resource/address/0/line",
        ),
        (
            lambda b: b["entry"][0]["resource"]["identifier"].append(
                {"system": "urn:mrn", "value": "X1"}
            ),
            "/entry/0/resource/identifier/1",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(telecom=[{"value": "07700 900000"}]),
            "/entry/0/resource/telecom",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(
                text={"status": "additional", "div": "<div>x</div>"}
            ),
            "/entry/0/resource/text",
        ),
        (
            lambda b: b["entry"][1]["resource"]["period"].update(end="2026-11-18T12:00:00+00:00"),
            "/entry/1/resource/period/end",
        ),
        (
            lambda b: b["entry"][1]["resource"]["extension"].append(
                {"url": "https://x.example/e", "valueString": "y"}
            ),
            "/entry/1/resource/extension/1",
        ),
        (
            lambda b: b["entry"][1]["resource"]["extension"][0]["extension"].append(
                {"url": "note", "valueString": "y"}
            ),
            "/entry/1/resource/extension/0/extension/8",
        ),
        (
            lambda b: b["entry"][2]["resource"].update(valueQuantity={"value": 3}),
            "/entry/2/resource/valueQuantity",
        ),
        (
            lambda b: b["entry"][2]["resource"]["note"][0].update(authorString="Dr Example"),
            "/entry/2/resource/note/0/authorString",
        ),
        (
            lambda b: b["entry"][3]["resource"].update(category=[{"text": "Safeguarding"}]),
            "/entry/3/resource/category",
        ),
    ],
)
def test_a_bundle_element_the_hub_does_not_read_is_refused_naming_it(
    change: Callable[[dict[str, Any]], None], pointer: str
) -> None:
    records = native(seed=2290)
    bundle = records.health_bundle(records.child(looked_after=True))
    change(bundle)
    assert (pointer, "element_not_read") in {(e.pointer, e.code) for e in unread_elements(bundle)}
    assert (pointer, "element_not_read") in _problems(FhirBundle.model_validate, bundle)


def test_a_generated_patient_narrative_is_accepted() -> None:
    records = native(seed=2291)
    bundle = records.health_bundle(records.child())
    bundle["entry"][0]["resource"]["text"] = {"status": "generated", "div": "<div>Ada</div>"}
    assert unread_elements(bundle) == []


@pytest.mark.parametrize(
    ("model", "build", "pointer"),
    [
        (
            PoliceRecord,
            lambda r, c: {
                **r.police_ppn(c),
                "subject": {**r.police_ppn(c)["subject"], "school_urn": "URN 999001"},
            },
            "/subject/school_urn",
        ),
        (
            CscNrmReferral,
            lambda r, c: {**r.csc_nrm_referral(c), "primary_need": "N1"},
            "/primary_need",
        ),
        (
            VcsUpdateForm,
            lambda r, c: {
                **r.vcs_update(c, kind="CONCERN"),
                "referred_at": "2026-11-19T15:30:00+00:00",
            },
            "/referred_at",
        ),
        (
            VcsUpdateForm,
            lambda r, c: {
                **r.vcs_update(c, kind="NRM_REFERRAL"),
                "safety_instructions": "Not alone.",
            },
            "/safety_instructions",
        ),
        (
            VcsUpdateForm,
            lambda r, c: {
                **r.vcs_update(c, kind="CONCERN"),
                "family_informed": True,
                "family_not_informed_reason": "x",
            },
            "/family_not_informed_reason",
        ),
        (
            PoliceRecord,
            lambda r, c: {
                **r.police_ppn(c),
                "family_informed": {"informed": True, "reason_not_informed": "x"},
            },
            "/family_informed/reason_not_informed",
        ),
    ],
)
def test_a_field_the_records_kind_does_not_carry_is_refused_naming_it(
    model: Any, build: Callable[[Any, Any], dict[str, Any]], pointer: str
) -> None:
    records = native(seed=2300)
    document = build(records, records.child())
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    assert (pointer, "unexpected_field") in _problems(adapter.validate_python, document)


def test_an_ssda903_row_with_a_reason_the_family_was_told_is_refused() -> None:
    records = native(seed=2310)
    child = records.child()
    start = dt.datetime(2026, 11, 1, 18, 0, tzinfo=dt.UTC)
    row: dict[str, Any] = dict(records.ssda903_row(child, start=start, end=None))
    row = {k: (v or None) for k, v in row.items()}
    row.update(FAMILY_INFORMED="Y", FAMILY_NOT_INFORMED_REASON="Told by phone.")
    problems = _problems(Ssda903MissingRow.model_validate, row)
    assert ("/FAMILY_NOT_INFORMED_REASON", "unexpected_field") in problems


@pytest.mark.parametrize(
    ("agency", "organisation_at"),
    [("POLICE", "officer_contact"), ("CHILDRENS_SERVICES", "contact_point")],
)
def test_an_nrm_referral_names_the_first_responder_in_the_record(
    agency: str, organisation_at: str
) -> None:
    records = native(seed=2320)
    child = records.child()
    if agency == "POLICE":
        document = records.police_nrm_referral(child)
    else:
        document = records.csc_nrm_referral(child)
    document[organisation_at]["organisation"] = "Synthetic Harbour Police"
    assert context(agency).organisation_name != "Synthetic Harbour Police"
    notice = _map(agency, "NRM", document).notice
    assert notice["detail"]["first_responder_organisation"] == "Synthetic Harbour Police"


def test_three_problems_in_three_sections_of_a_police_record_come_back_at_once() -> None:
    records = native(seed=2330)
    back = dt.datetime(2026, 11, 18, 3, 0, tzinfo=dt.UTC)
    document = records.police_missing(
        records.child(),
        status="RETURNED",
        missing_since=back - dt.timedelta(hours=8),
        found_or_returned_at=back,
    )
    document["subject"]["nhs_number"] = "999 123 4550"
    document["risk"]["level"] = "SEVERE"
    document["found_or_returned_at"] = None
    assert _problems(_POLICE.validate_python, document) == {
        ("/subject/nhs_number", "nhs_number_checksum"),
        ("/risk/level", "enum"),
        ("/found_or_returned_at", "missing"),
    }


def test_every_kind_rule_of_a_vcs_form_is_reported_with_the_field_errors() -> None:
    records = native(seed=2340)
    form = records.vcs_update(records.child(), kind="NRM_REFERRAL")
    form.update(
        exploitation_account=None,  # required for an NRM referral
        referred_at=None,  # required too
        agreed_actions=["Weekly mentoring"],  # not carried on an NRM referral
        worker_telephone="call me",  # not a telephone number
    )
    assert _problems(VcsUpdateForm.model_validate, form) == {
        ("/exploitation_account", "missing"),
        ("/referred_at", "missing"),
        ("/agreed_actions", "unexpected_field"),
        ("/worker_telephone", "string_pattern_mismatch"),
    }


def test_a_bundles_shape_and_profile_problems_come_back_together() -> None:
    records = native(seed=2350)
    bundle = records.health_bundle(records.child())
    bundle["entry"][1]["resource"]["period"]["start"] = "yesterday"  # shape: not a dateTime
    bundle["entry"][0]["resource"]["address"][0]["line"] = ["1 Row"]  # shape: not read
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "9991234550"  # profile
    bundle["entry"][2]["resource"]["extension"][0]["valueCoding"]["code"] = "NOPE"  # profile
    parsed, problems = bundle_problems(bundle, context("HEALTH"))
    assert parsed is None
    found = {(p.pointer, p.code) for p in problems}
    assert {
        ("/entry/1/resource/period/start", "datetime_from_date_parsing"),
        ("/entry/0/resource/address/0/line", "element_not_read"),
        ("/entry/0/resource/identifier/0/value", "nhs_number_checksum"),
        ("/entry/2/resource/extension/0/valueCoding", "concern_code"),
    } <= found
    # The unreadable Encounter is named once, not again as a missing one.
    assert not any(code == "encounter_count" for _, code in found)


def test_a_valid_bundle_has_no_problems() -> None:
    records = native(seed=2360)
    parsed, problems = bundle_problems(records.health_bundle(records.child()), context("HEALTH"))
    assert isinstance(parsed, BaseModel)
    assert problems == []


def test_every_column_of_an_ssda903_row_reaches_its_notice() -> None:
    records = native(seed=2370)
    child = records.child(looked_after=True, exploitation_flagged=True)
    start = dt.datetime(2026, 11, 1, 18, 0, tzinfo=dt.UTC)
    row = records.ssda903_row(child, start=start, end=start + dt.timedelta(hours=20))
    row.update(FAMILY_INFORMED="N", FAMILY_NOT_INFORMED_REASON="Parent's whereabouts unknown.")
    document = {k: v for k, v in row.items() if v != ""}
    mapped = map_ssda903_row(
        Ssda903MissingRow.model_validate(document),
        context("CHILDRENS_SERVICES"),
        contact_point=ContactPointIn.model_validate(
            rich_record(records, "CHILDRENS_SERVICES", "S47")["contact_point"]
        ),
    )
    rules = {"/SEX": "sent to the child index only", "/POSTCODE": "only its district is shared"}
    assert lost_values(document, mapped.notice, not_carried=rules) == []
