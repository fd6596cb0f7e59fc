"""FHIR safeguarding Bundles -> HEALTH_SAFEGUARDING_ALERT: FHIR validation, profile, mapping."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from services.adapters.health.mapping import map_fhir_bundle
from services.adapters.health.models import FhirBundle
from services.adapters.health.validation import fhir_errors
from services.adapters.ingest.mapping import MappingFailed
from services.hubkit.notice import encode_notice
from tests.adapters.helpers import KEYER, context, map_native, mapped, native
from tests.factories import catalog

CATALOG = catalog()
SEEN = dt.datetime(2026, 11, 18, 10, 20, tzinfo=dt.UTC)


def _bundle(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
    records = native()
    child = records.child(**kwargs)
    return child, records.health_bundle(child, setting="ED", seen_at=SEEN)


def _profile_errors(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(MappingFailed) as failed:
        map_fhir_bundle(FhirBundle.model_validate(document), context("HEALTH"))
    return {e.pointer: e.code for e in failed.value.errors}


def test_generated_bundle_is_valid_fhir_r4() -> None:
    _, document = _bundle()
    assert fhir_errors(document) == []


def test_ed_attendance_maps_to_health_alert() -> None:
    child, document = _bundle(looked_after=False, exploitation_flagged=False)
    notice = map_native("HEALTH", document)
    encode_notice(CATALOG, notice)

    detail = notice["detail"]
    assert notice["notice_type"] == "HEALTH_SAFEGUARDING_ALERT"
    assert notice["source"]["source_reference"] == document["identifier"]["value"]
    assert notice["subject"]["nhs_number"] == child.nhs_number
    assert notice["subject"]["linkage_key"] == KEYER.key_for(nhs_number=child.nhs_number)
    # Health records the double-barrelled name with a space; the notice keeps it as sent.
    assert notice["subject"]["family_name"] == child.family_name.replace("-", " ")
    assert detail["setting"] == "ED"
    assert detail["seen_at"] == SEEN
    assert detail["unscheduled_care"] is True
    assert "Synthetic clinical detail" in detail["clinical_detail"]
    assert notice["narrative"]["sensitivity"] == "CLINICAL"
    assert notice["narrative"]["summary"] == detail["navigator_risk_summary"]
    assert notice["concerns"] == [{"code": "PHYSICAL_ABUSE", "census_factor": None}]
    assert notice["consent"]["status"] == "NOT_SOUGHT"
    assert notice["contact_point"]["organisation"] == "Synthetic NHS Trust"
    assert detail["cpis_flag"] is None


def test_cp_is_plan_flag_is_read_from_the_snomed_code() -> None:
    records = native()
    child = records.child(looked_after=False)
    document = records.health_bundle(
        child, setting="GP", seen_at=SEEN, cp_plan_since=dt.date(2026, 9, 1)
    )
    notice = map_native("HEALTH", document)
    encode_notice(CATALOG, notice)
    assert notice["detail"]["cpis_flag"] == {
        "plan_type": "CHILD_PROTECTION_PLAN",
        "plan_start": dt.date(2026, 9, 1),
        "plan_end": None,
        "responsible_la_contact": "Synthetic Borough Children's Services, 0300 000 0300",
    }
    assert "1064311000000109" in notice["detail"]["snomed_codes"]
    assert notice["detail"]["unscheduled_care"] is False


@pytest.mark.parametrize(
    ("snomed", "plan_type"),
    [
        ("1064311000000109", "CHILD_PROTECTION_PLAN"),
        ("342191000000101", "CHILD_PROTECTION_PLAN"),
        ("818901000000100", "UNBORN_CHILD_PROTECTION_PLAN"),
        ("764841000000100", "LOOKED_AFTER"),
    ],
)
def test_every_cp_is_snomed_code_is_read_as_a_plan_flag(snomed: str, plan_type: str) -> None:
    records = native()
    document = records.health_bundle(
        records.child(looked_after=False),
        setting="ED",
        seen_at=SEEN,
        cp_plan_since=dt.date(2026, 9, 1),
        plan_snomed=snomed,
    )
    assert fhir_errors(document) == []
    notice = map_native("HEALTH", document)
    encode_notice(CATALOG, notice)
    assert notice["detail"]["cpis_flag"]["plan_type"] == plan_type
    assert snomed in notice["detail"]["snomed_codes"]


def test_plan_flag_names_the_la_that_owns_the_plan() -> None:
    records = native()
    document = records.health_bundle(
        records.child(looked_after=False), seen_at=SEEN, cp_plan_since=dt.date(2026, 9, 1)
    )
    result = mapped("HEALTH", document)
    # R13: the LA that owns the plan is told when unscheduled care looks the child up.
    assert result.notice["subject"]["responsible_la"] == "LA-E09000099"
    assert result.warnings == ()


def test_without_a_plan_flag_there_is_no_responsible_la() -> None:
    _, document = _bundle(looked_after=False)
    result = mapped("HEALTH", document)
    assert result.notice["subject"]["responsible_la"] is None
    assert result.warnings == ()


def _flag(document: dict[str, Any]) -> dict[str, Any]:
    flags: list[dict[str, Any]] = [
        e["resource"] for e in document["entry"] if e["resource"]["resourceType"] == "Flag"
    ]
    (flag,) = flags
    return flag


def test_plan_flag_without_an_la_code_is_published_with_a_warning() -> None:
    records = native()
    document = records.health_bundle(
        records.child(looked_after=False), seen_at=SEEN, cp_plan_since=dt.date(2026, 9, 1)
    )
    del _flag(document)["author"]["identifier"]
    assert fhir_errors(document) == []
    result = mapped("HEALTH", document)
    assert result.notice["subject"]["responsible_la"] is None
    assert result.notice["detail"]["cpis_flag"]["responsible_la_contact"]
    assert [(w.pointer, w.code) for w in result.warnings] == [
        ("/entry/3/resource/author/identifier", "responsible_la_missing")
    ]


def test_plan_flag_with_a_malformed_la_code_is_published_with_a_warning() -> None:
    records = native()
    document = records.health_bundle(
        records.child(looked_after=False), seen_at=SEEN, cp_plan_since=dt.date(2026, 9, 1)
    )
    _flag(document)["author"]["identifier"]["value"] = "Synthetic Borough"
    result = mapped("HEALTH", document)
    assert result.notice["subject"]["responsible_la"] is None
    assert [(w.pointer, w.code) for w in result.warnings] == [
        ("/entry/3/resource/author/identifier/value", "responsible_la_invalid")
    ]


def test_ended_plan_names_no_responsible_la() -> None:
    records = native()
    document = records.health_bundle(
        records.child(looked_after=False), seen_at=SEEN, cp_plan_since=dt.date(2026, 9, 1)
    )
    _flag(document)["period"]["end"] = "2026-10-01"
    notice = map_native("HEALTH", document)
    assert notice["detail"]["cpis_flag"]["plan_end"] == dt.date(2026, 10, 1)
    assert notice["subject"]["responsible_la"] is None


def test_looked_after_flag_marks_the_subject() -> None:
    _, document = _bundle(looked_after=True)
    notice = map_native("HEALTH", document)
    assert notice["detail"]["cpis_flag"]["plan_type"] == "LOOKED_AFTER"
    assert notice["subject"]["looked_after"] is True


def test_invalid_nhs_number_is_reported_at_its_identifier() -> None:
    _, document = _bundle()
    identifier = document["entry"][0]["resource"]["identifier"][0]
    identifier["value"] = identifier["value"][:9] + str((int(identifier["value"][9]) + 1) % 10)
    assert _profile_errors(document) == {
        "/entry/0/resource/identifier/0/value": "nhs_number_checksum"
    }


def test_profile_errors_are_all_reported_at_once() -> None:
    _, document = _bundle()
    document["entry"][0]["resource"]["identifier"] = []
    encounter = document["entry"][1]["resource"]
    encounter["serviceType"]["coding"][0]["code"] = "DENTIST"
    referral = encounter["extension"][0]["extension"]
    referral[:] = [e for e in referral if e["url"] != "navigatorRiskSummary"]
    errors = _profile_errors(document)
    assert errors == {
        "/entry/0/resource/identifier": "nhs_number_missing",
        "/entry/1/resource/serviceType/coding/0/code": "care_setting",
        "/entry/1/resource/extension/0/extension": "missing",
    }


def test_bundle_needs_exactly_one_patient() -> None:
    _, document = _bundle()
    document["entry"].append(copy.deepcopy(document["entry"][0]))
    assert _profile_errors(document) == {"/entry": "patient_count"}


def test_fhir_library_catches_invalid_fhir() -> None:
    _, document = _bundle()
    document["entry"][0]["resource"]["birthDate"] = "2013-13-45"
    document["entry"][1]["resource"]["period"]["start"] = "2026-11-18T10:20:00"  # no offset
    document["entry"][2]["resource"]["wibble"] = True
    pointers = {e.pointer for e in fhir_errors(document)}
    assert "/entry/0/resource/birthDate" in pointers
    assert "/entry/1/resource/period/start" in pointers
    assert "/entry/2/resource/wibble" in pointers


def test_unknown_resource_type_is_a_field_error() -> None:
    _, document = _bundle()
    document["entry"].append({"resource": {"resourceType": "Wibble"}})
    errors = fhir_errors(document)
    assert [(e.pointer, e.code) for e in errors] == [
        ("/entry/3/resource/resourceType", "fhir_unknown_resource_type")
    ]
