"""The native-format generator: deterministic, valid for the adapters, linked scenarios."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from services.adapters.childrens_services.mapping import map_csc_nrm_referral, map_ssda903_rows
from services.adapters.childrens_services.models import CscNrmReferral, Ssda903MissingRow
from services.adapters.health.validation import fhir_errors
from services.adapters.ingest.csv_batch import read_csv
from services.adapters.ingest.models import ContactPointIn
from services.adapters.police.mapping import map_police_nrm_referral
from services.adapters.police.models import PoliceNrmReferral
from services.hubkit.linkage import is_valid_nhs_number
from services.hubkit.notice import encode_notice
from services.hubkit.school_urn import normalise_school_urn
from services.synthetic.native import NativeRecords
from tests.adapters.helpers import AGENCIES, context, map_native, mapped
from tests.factories import FIXED_NOW, POLICIES, catalog

CATALOG = catalog()


def test_same_seed_same_records() -> None:
    first = NativeRecords(seed=3, now=FIXED_NOW)
    second = NativeRecords(seed=3, now=FIXED_NOW)
    assert [first.record(a) for a in AGENCIES * 5] == [second.record(a) for a in AGENCIES * 5]
    assert first.linked_week() == second.linked_week()


def test_other_seed_other_records() -> None:
    assert NativeRecords(seed=3, now=FIXED_NOW).record("POLICE") != NativeRecords(
        seed=4, now=FIXED_NOW
    ).record("POLICE")


@pytest.mark.parametrize("agency", AGENCIES)
def test_every_generated_record_is_accepted_and_maps(agency: str) -> None:
    records = NativeRecords(seed=17, now=FIXED_NOW)
    for _ in range(60):
        document = records.record(agency)
        if agency == "HEALTH":
            assert fhir_errors(document) == []
        result = mapped(agency, document)
        encode_notice(CATALOG, result.notice)
        assert result.warnings == ()  # generated records are clean: no warnings either


def test_children_are_fictional() -> None:
    records = NativeRecords(seed=1, now=FIXED_NOW)
    for _ in range(50):
        child = records.child()
        assert child.nhs_number.startswith("999")
        assert is_valid_nhs_number(child.nhs_number)
        assert child.postcode.startswith("ZZ")
        assert child.date_of_birth < FIXED_NOW.date()


def test_repeated_missing_scenario_is_consistent() -> None:
    scenario = NativeRecords(seed=2, now=FIXED_NOW).repeated_missing(episodes=5)
    assert scenario.child.looked_after
    assert len(scenario.police_records) == 10  # reported + returned, per episode
    police_ids = {map_native("POLICE", r)["notice_id"] for r in scenario.police_records}
    assert len(police_ids) == 10
    rows = read_csv(scenario.ssda903_csv.encode(), Ssda903MissingRow, max_rows=10)
    contact = ContactPointIn(role="CiC team", organisation="LA", telephone="0300 000 0300")
    items = map_ssda903_rows(rows, context("CHILDRENS_SERVICES"), contact_point=contact)
    assert all(i.notice is not None for i in items)
    keys = {i.notice["subject"]["linkage_key"] for i in items if i.notice}
    keys |= {map_native("POLICE", r)["subject"]["linkage_key"] for r in scenario.police_records}
    keys.add(map_native("VOLUNTARY_SECTOR", scenario.return_interview)["subject"]["linkage_key"])
    assert len(keys) == 1
    starts = [s for s, _ in scenario.episodes]
    assert starts == sorted(starts)
    assert starts[-1] - starts[0] < dt.timedelta(days=90)


def test_nrm_scenario() -> None:
    scenario = NativeRecords(seed=9, now=FIXED_NOW).nrm_referral()
    assert map_native("VOLUNTARY_SECTOR", scenario.vcs_referral)["notice_type"] == "TRAFFICKING_NRM"
    assert map_native("POLICE", scenario.police_intelligence)["notice_type"] == (
        "POLICE_INTELLIGENCE"
    )


def test_police_write_school_urns_the_ways_forces_do() -> None:
    records = NativeRecords(seed=5, now=FIXED_NOW)
    written = {records.police_dash(records.child())["subject"]["school_urn"] for _ in range(40)}
    assert any(not w.isdigit() for w in written)  # not only the bare six digits
    assert all(normalise_school_urn(w) is not None for w in written)


def test_linked_week_child_attends_the_registered_school() -> None:
    """So the demo shows Operation Encompass (R9): the school subscriber is registered."""
    week = NativeRecords(seed=4, now=FIXED_NOW).linked_week()
    subscribers = json.loads((POLICIES / "safehub" / "subscribers" / "data.json").read_text())
    schools = {s["organisation"] for s in subscribers.values() if s["agency"] == "EDUCATION"}
    assert map_native("POLICE", week.police_dash)["detail"]["school_urn"] in schools


def test_health_plan_flags_name_the_responsible_la() -> None:
    records = NativeRecords(seed=6, now=FIXED_NOW)
    child = records.child(looked_after=True)
    notice = map_native("HEALTH", records.health_bundle(child))
    assert notice["detail"]["cpis_flag"]["plan_type"] == "LOOKED_AFTER"
    assert notice["subject"]["responsible_la"] == "LA-E09000099"


def test_nrm_referrals_from_every_first_responder() -> None:
    records = NativeRecords(seed=8, now=FIXED_NOW)
    child = records.child(looked_after=True)  # so the charity holds the NHS number too
    police = map_police_nrm_referral(
        PoliceNrmReferral.model_validate(records.police_nrm_referral(child)), context("POLICE")
    )
    la = map_csc_nrm_referral(
        CscNrmReferral.model_validate(records.csc_nrm_referral(child)),
        context("CHILDRENS_SERVICES"),
    )
    charity = mapped("VOLUNTARY_SECTOR", records.vcs_update(child, kind="NRM_REFERRAL"))
    for result in (police, la, charity):
        encode_notice(CATALOG, result.notice)
        assert result.notice["notice_type"] == "TRAFFICKING_NRM"
        assert result.warnings == ()
    keys = {r.notice["subject"]["linkage_key"] for r in (police, la, charity)}
    assert len(keys) == 1
