"""Police occurrence records -> notices: pure mapping, checked against the Avro schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from services.adapters.ingest.mapping import MappingFailed
from services.adapters.ingest.nrm import NRM_CONSENT_REASON
from services.adapters.ingest.problems import field_errors_from_validation
from services.adapters.police.mapping import map_police_nrm_referral
from services.adapters.police.models import PoliceNrmReferral
from services.hubkit.notice import encode_notice, notice_id_for
from tests.adapters.helpers import KEYER, context, map_native, mapped, native, parse
from tests.factories import catalog

CATALOG = catalog()


def _valid(notice: dict[str, Any]) -> dict[str, Any]:
    encode_notice(CATALOG, notice)  # raises if the notice does not fit the schema
    return notice


def test_public_protection_notice_maps_to_safeguarding_contact() -> None:
    records = native()
    child = records.child(exploitation_flagged=True)
    document = records.police_ppn(child)
    notice = _valid(map_native("POLICE", document))

    assert notice["notice_type"] == "SAFEGUARDING_CONTACT"
    reference = f"{document['occurrence_reference']}/PPN"
    assert notice["source"] == {
        "agency": "POLICE",
        "organisation_code": "POL-XX01",
        "source_reference": reference,
        "source_system": "Synthetic RMS 4.2",
    }
    assert notice["notice_id"] == notice_id_for(
        agency="POLICE", organisation_code="POL-XX01", source_reference=reference
    )
    assert notice["detail"]["reason"] == document["reason"]
    assert notice["subject"]["linkage_key"] == KEYER.key_for(nhs_number=child.nhs_number)
    assert notice["subject"]["postcode_district"] == child.postcode.split()[0]
    assert child.postcode not in repr(notice)  # never the full postcode
    assert notice["subject"]["exploitation_flagged"] is True
    assert notice["classification"] == "OFFICIAL_SENSITIVE"
    assert notice["intelligence_grading"] is None
    assert notice["referrer"]["role"] == "neighbour"
    assert notice["created_at"].tzinfo is not None


def test_dash_incident_keeps_grade_children_present_and_school() -> None:
    records = native()
    child = records.child()
    document = records.police_dash(child)
    notice = _valid(map_native("POLICE", document))

    assert notice["notice_type"] == "DOMESTIC_ABUSE_INCIDENT"
    assert notice["detail"]["dash_risk"] == document["dash_grade"]
    assert notice["detail"]["children_present"] is True
    assert notice["detail"]["school_urn"] == f"URN-{child.school_urn}"
    assert {"code": "DOMESTIC_ABUSE", "census_factor": None} in notice["concerns"]
    assert notice["source"]["source_reference"].endswith("/DASH")


def test_missing_person_returned_sets_return_interview_due_72_hours_later() -> None:
    records = native()
    child = records.child(looked_after=True)
    since = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
    back = dt.datetime(2026, 11, 18, 3, 10, tzinfo=dt.UTC)
    document = records.police_missing(
        child, status="RETURNED", missing_since=since, found_or_returned_at=back
    )
    notice = _valid(map_native("POLICE", document))

    detail = notice["detail"]
    assert notice["notice_type"] == "MISSING_EPISODE"
    assert detail["status"] == "RETURNED"
    assert detail["started_at"] == since
    assert detail["ended_at"] == back
    assert detail["return_interview_due_at"] == back + dt.timedelta(hours=72)
    assert detail["ssda903_code"] == "M"
    assert {"code": "MISSING", "census_factor": "10A"} in notice["concerns"]
    assert notice["source"]["source_reference"].endswith("/MISPER/RETURNED")


def test_missing_person_reported_and_returned_are_two_notices() -> None:
    records = native()
    child = records.child()
    since = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
    reported = records.police_missing(
        child, status="REPORTED", missing_since=since, occurrence="XX01/26/000777"
    )
    returned = records.police_missing(
        child,
        status="RETURNED",
        missing_since=since,
        found_or_returned_at=since + dt.timedelta(hours=5),
        occurrence="XX01/26/000777",
    )
    first, second = map_native("POLICE", reported), map_native("POLICE", returned)
    assert first["notice_id"] != second["notice_id"]
    assert first["detail"]["return_interview_due_at"] is None


@pytest.mark.parametrize("legacy", [False, True])
def test_intelligence_keeps_grading_as_graded(legacy: bool) -> None:
    records = native()
    document = records.police_intelligence(records.child(), legacy=legacy)
    notice = _valid(map_native("POLICE", document))
    grading = notice["intelligence_grading"]
    assert grading["scheme"] == ("LEGACY_5X5X5" if legacy else "GRADING_3X5X2")
    assert grading["handling_code"] == document["grading"]["handling_code"]
    assert notice["narrative"]["sensitivity"] == "POLICE_CONFIDENTIAL"
    assert notice["detail"]["source_details"] == document["source_details"]


def test_revision_makes_a_new_reference() -> None:
    records = native()
    document = records.police_ppn(records.child())
    first = map_native("POLICE", document)
    corrected = map_native("POLICE", {**document, "revision": 2})
    assert corrected["source"]["source_reference"] == first["source"]["source_reference"] + "/r2"
    assert corrected["notice_id"] != first["notice_id"]


def test_mapping_is_deterministic() -> None:
    document = native().police_dash(native().child())
    assert map_native("POLICE", document) == map_native("POLICE", document)


def test_without_nhs_number_links_on_demographics() -> None:
    records = native()
    child = records.child()
    document = records.police_ppn(child)
    document["subject"]["nhs_number"] = None
    notice = map_native("POLICE", document)
    assert notice["subject"]["linkage_key"] == KEYER.key_for(
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        postcode=child.postcode,
    )


def _pointers(document: dict[str, Any]) -> dict[str, str]:
    try:
        parse("POLICE", document)
    except ValidationError as error:
        return {e.pointer: e.code for e in field_errors_from_validation(error.errors(), document)}
    raise AssertionError("expected a validation error")


def test_grading_codes_must_fit_the_scheme() -> None:
    records = native()
    document = records.police_intelligence(records.child())
    document["grading"] = {
        "scheme": "3x5x2",
        "source_evaluation": "4",
        "intelligence_assessment": "B",
        "handling_code": "P",
    }
    assert _pointers(document) == {"/grading/source_evaluation": "grading_code"}


def test_returned_without_time_is_a_field_error() -> None:
    records = native()
    since = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
    document = records.police_missing(records.child(), status="REPORTED", missing_since=since)
    document["status"] = "RETURNED"
    assert _pointers(document) == {"/found_or_returned_at": "missing"}


def test_unknown_record_type_names_the_discriminator() -> None:
    document = native().police_ppn(native().child())
    document["record_type"] = "STOP_AND_SEARCH"
    assert _pointers(document) == {"/record_type": "unknown_record_type"}


def test_the_model_leaves_linkability_to_the_child_index() -> None:
    """Names and a date of birth, no postcode or NHS number: the model accepts the record;
    whether the child can be keyed is the index's call (tests/adapters/unit/
    test_identifiers_sent.py)."""
    records = native()
    document = records.police_ppn(records.child())
    document["subject"].update(nhs_number=None, postcode=None)
    assert parse("POLICE", document).subject.date_of_birth is not None


def test_mapping_failure_is_reported_per_field() -> None:
    error = MappingFailed([])
    assert error.errors == ()


# ---- Operation Encompass (rule R9) ----------------------------------------------------------


@pytest.mark.parametrize("written", ["123456", "URN 123456", "urn-123456", " URN:123456 "])
def test_dash_school_urn_is_canonical_however_the_force_writes_it(written: str) -> None:
    records = native()
    document = records.police_dash(records.child())
    document["subject"]["school_urn"] = written
    result = mapped("POLICE", document)
    _valid(result.notice)
    # The school subscriber is registered as "URN-<6 digits>"; only that form matches.
    assert result.notice["detail"]["school_urn"] == "URN-123456"
    assert result.warnings == ()


def test_dash_with_an_unreadable_school_urn_is_published_with_a_warning() -> None:
    records = native()
    document = records.police_dash(records.child())
    document["subject"]["school_urn"] = "URN 12345X"
    result = mapped("POLICE", document)
    _valid(result.notice)
    assert result.notice["detail"]["school_urn"] is None
    assert [(w.pointer, w.code) for w in result.warnings] == [
        ("/subject/school_urn", "school_urn_invalid")
    ]
    assert "12345X" not in result.warnings[0].message  # problems never echo the value


def test_dash_child_normally_resident_but_not_present() -> None:
    records = native()
    document = records.police_dash(records.child(), children_present=False)
    assert document["children_normally_resident"] is True
    notice = _valid(map_native("POLICE", document))
    assert notice["detail"]["children_present"] is False
    assert notice["detail"]["children_normally_resident"] is True
    del document["children_normally_resident"]
    assert map_native("POLICE", document)["detail"]["children_normally_resident"] is None


# ---- missing episodes (rule R7) -------------------------------------------------------------


def test_missing_person_found_maps_to_found_with_return_interview_due() -> None:
    records = native()
    since = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
    found = dt.datetime(2026, 11, 18, 1, 45, tzinfo=dt.UTC)
    document = records.police_missing(
        records.child(), status="FOUND", missing_since=since, found_or_returned_at=found
    )
    notice = _valid(map_native("POLICE", document))
    detail = notice["detail"]
    assert detail["status"] == "FOUND"
    assert detail["ended_at"] == found
    # R7: the child is back whether found or returned; the interview is due 72 h later.
    assert detail["return_interview_due_at"] == found + dt.timedelta(hours=72)
    assert notice["source"]["source_reference"].endswith("/MISPER/FOUND")


def test_missing_person_keeps_the_forces_episode_count() -> None:
    records = native()
    since = dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC)
    document = records.police_missing(
        records.child(), status="REPORTED", missing_since=since, episodes_last_90_days=4
    )
    assert map_native("POLICE", document)["detail"]["episodes_last_90_days"] == 4


# ---- intelligence grading (rule R6) ---------------------------------------------------------


def _legacy(handling_code: str, authorisation: str | None) -> dict[str, Any]:
    records = native()
    document = records.police_intelligence(records.child(), legacy=True)
    document["grading"]["handling_code"] = handling_code
    document["grading"]["dissemination_authorisation"] = authorisation
    return document


def test_legacy_code_2_keeps_the_dissemination_authorisation() -> None:
    notice = _valid(map_native("POLICE", _legacy("2", "AUTH/XX01/2026/0117")))
    grading = notice["intelligence_grading"]
    assert grading["scheme"] == "LEGACY_5X5X5"
    assert grading["handling_code"] == "2"
    assert grading["dissemination_authorisation"] == "AUTH/XX01/2026/0117"


def test_legacy_code_2_without_authorisation_maps_to_null() -> None:
    notice = _valid(map_native("POLICE", _legacy("2", None)))
    assert notice["intelligence_grading"]["dissemination_authorisation"] is None


@pytest.mark.parametrize("handling_code", ["1", "3", "4", "5"])
def test_dissemination_authorisation_belongs_to_legacy_code_2_only(handling_code: str) -> None:
    document = _legacy(handling_code, "AUTH/XX01/2026/0117")
    assert _pointers(document) == {"/grading/dissemination_authorisation": "unexpected_field"}


def test_dissemination_authorisation_is_not_part_of_3x5x2() -> None:
    records = native()
    document = records.police_intelligence(records.child())
    document["grading"]["dissemination_authorisation"] = "AUTH/XX01/2026/0117"
    assert _pointers(document) == {"/grading/dissemination_authorisation": "unexpected_field"}


# ---- NRM referrals (rule R12: police are first responders) ----------------------------------


def test_police_nrm_referral_maps_to_trafficking_nrm() -> None:
    records = native()
    child = records.child(exploitation_flagged=False)
    document = records.police_nrm_referral(child)
    result = map_police_nrm_referral(PoliceNrmReferral.model_validate(document), context("POLICE"))
    notice = _valid(result.notice)
    assert result.warnings == ()
    assert notice["notice_type"] == "TRAFFICKING_NRM"
    assert notice["source"]["source_reference"] == f"{document['occurrence_reference']}/NRM"
    assert notice["detail"] == {
        "exploitation_type": document["exploitation_type"],
        "first_responder_organisation": "Synthetic Constabulary",
        "referred_at": dt.datetime.fromisoformat(document["referred_at"]),
        "exploitation_account": document["exploitation_account"],
    }
    assert {"code": "TRAFFICKING", "census_factor": "12A"} in notice["concerns"]
    # Child referrals need no consent; the hub says why when the force does not.
    assert notice["consent"] == {"status": "NOT_REQUIRED", "reason_not_sought": NRM_CONSENT_REASON}
    # A child referred into the NRM is at risk of exploitation (rule R8).
    assert notice["subject"]["exploitation_flagged"] is True
    assert notice["subject"]["responsible_la"] == "LA-E09000099"


def test_police_nrm_referral_needs_its_account() -> None:
    records = native()
    document = records.police_nrm_referral(records.child())
    del document["exploitation_account"]
    with pytest.raises(ValidationError) as caught:
        PoliceNrmReferral.model_validate(document)
    errors = field_errors_from_validation(caught.value.errors(), document)
    assert [(e.pointer, e.code) for e in errors] == [("/exploitation_account", "missing")]
