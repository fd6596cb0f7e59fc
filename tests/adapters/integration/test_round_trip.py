"""Issue 21 through the real broker: a rich native record (every field its format allows)
posted to each adapter reaches the published notice whole; an element the adapter does not
read is refused with a pointer naming it; an NRM referral names the record's first responder;
a record with three problems gets all three in one answer."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.hubkit.notice import to_json_value
from tests.adapters.integration.conftest import Hub, notice_ids
from tests.adapters.rich_records import ALIASES, not_carried, rich_record
from tests.adapters.round_trip import lost_values

pytestmark = pytest.mark.kafka

# One shape per route through the broker (tests/adapters/unit/test_no_silent_loss.py maps
# every shape without one).
ROUTES = {
    ("POLICE", "DASH_INCIDENT"): "/v1/occurrences",
    ("POLICE", "NRM"): "/v1/nrm-referrals",
    ("HEALTH", "BUNDLE"): "/v1/fhir/Bundle",
    ("CHILDRENS_SERVICES", "CP_PLAN_STARTED"): "/v1/cin-records",
    ("CHILDRENS_SERVICES", "NRM"): "/v1/nrm-referrals",
    ("VOLUNTARY_SECTOR", "RETURN_INTERVIEW_OUTCOME"): "/v1/updates",
    ("VOLUNTARY_SECTOR", "NRM"): "/v1/updates",
}


async def _post(hub: Hub, agency: str, path: str, document: dict[str, Any]) -> Any:
    headers = await hub.headers(agency)
    headers["Content-Type"] = "application/fhir+json" if agency == "HEALTH" else "application/json"
    return await hub.adapters[agency].post(path, content=json.dumps(document), headers=headers)


async def _published(hub: Hub, agency: str, path: str, document: dict[str, Any]) -> Any:
    reader = await hub.reader(agency)
    try:
        response = await _post(hub, agency, path, document)
        assert response.status_code == 202, response.text
        assert response.json()["warnings"] == []
        notice_id = response.json()["notice_id"]

        def done(records: list[ConsumerRecord]) -> bool:
            return notice_id in notice_ids(hub, records)

        seen = await reader.read_until(done, timeout_s=30)
    finally:
        await reader.stop()
    (notice,) = [n for n in (hub.open(r)[0] for r in seen) if n["notice_id"] == notice_id]
    return notice


@pytest.mark.parametrize(("agency", "shape"), list(ROUTES))
async def test_every_accepted_value_reaches_the_published_notice(
    hub: Hub, agency: str, shape: str
) -> None:
    document = rich_record(
        hub.records(seed=2100 + list(ROUTES).index((agency, shape))), agency, shape
    )
    notice = await _published(hub, agency, ROUTES[agency, shape], document)
    expected = not_carried(agency, shape)
    assert lost_values(document, notice, not_carried=expected, aliases=ALIASES) == []


async def test_a_flags_text_reaches_the_health_navigators_detail(hub: Hub) -> None:
    document = rich_record(hub.records(seed=2120), "HEALTH", "BUNDLE")
    notice = await _published(hub, "HEALTH", "/v1/fhir/Bundle", document)
    assert "Flag text: known to children's services" in notice["detail"]["clinical_detail"]
    assert "Flag narrative: neglect concerns" in notice["narrative"]["full_account"]
    assert notice["narrative"]["sensitivity"] == "CLINICAL"


@pytest.mark.parametrize(
    ("agency", "path", "change", "pointer"),
    [
        (
            "POLICE",
            "/v1/occurrences",
            lambda d: d["subject"].__setitem__("school_urn", "URN 999001"),
            "/subject/school_urn",
        ),
        (
            "HEALTH",
            "/v1/fhir/Bundle",
            lambda d: d["entry"].append({"resource": {"resourceType": "Organization"}}),
            "LAST_ENTRY",
        ),
        (
            "CHILDRENS_SERVICES",
            "/v1/cin-records",
            lambda d: d["family_informed"].__setitem__("reason_not_informed", "Said aloud."),
            "/family_informed/reason_not_informed",
        ),
        (
            "VOLUNTARY_SECTOR",
            "/v1/updates",
            lambda d: d.__setitem__("exploitation_type", "CRIMINAL"),
            "/exploitation_type",
        ),
    ],
)
async def test_an_element_the_adapter_does_not_read_is_refused_naming_it(
    hub: Hub, agency: str, path: str, change: Any, pointer: str
) -> None:
    records = hub.records(seed=2130)
    child = records.child()
    document = {
        "POLICE": lambda: records.police_ppn(child),
        "HEALTH": lambda: records.health_bundle(child, cp_plan_since=dt.date(2026, 1, 5)),
        "CHILDRENS_SERVICES": lambda: records.csc_referral(child),
        "VOLUNTARY_SECTOR": lambda: records.vcs_update(child, kind="CONCERN"),
    }[agency]()
    change(document)
    if pointer == "LAST_ENTRY":
        pointer = f"/entry/{len(document['entry']) - 1}/resource"
    response = await _post(hub, agency, path, document)
    assert response.status_code == 422, response.text
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert pointer in pointers, response.json()


@pytest.mark.parametrize("agency", ["POLICE", "CHILDRENS_SERVICES"])
async def test_an_nrm_referral_names_the_first_responder_in_the_record(
    hub: Hub, agency: str
) -> None:
    records = hub.records(seed=2140 + (agency == "POLICE"))
    child = records.child()
    if agency == "POLICE":
        document = records.police_nrm_referral(child)
        document["officer_contact"]["organisation"] = "Synthetic Transport Police"
    else:
        document = records.csc_nrm_referral(child)
        document["contact_point"]["organisation"] = "Synthetic Shire Children's Services"
    registered = hub.topology.agency(agency).name
    assert registered not in (
        "Synthetic Transport Police",
        "Synthetic Shire Children's Services",
    )
    notice = await _published(hub, agency, "/v1/nrm-referrals", document)
    named = notice["detail"]["first_responder_organisation"]
    assert named == (
        "Synthetic Transport Police"
        if agency == "POLICE"
        else "Synthetic Shire Children's Services"
    )


async def test_three_problems_in_three_sections_come_back_in_one_answer(hub: Hub) -> None:
    records = hub.records(seed=2150)
    document = records.police_missing(
        records.child(),
        status="RETURNED",
        missing_since=dt.datetime(2026, 11, 17, 18, 0, tzinfo=dt.UTC),
        found_or_returned_at=dt.datetime(2026, 11, 18, 3, 0, tzinfo=dt.UTC),
    )
    document["subject"]["nhs_number"] = "999 123 4550"  # fails the check digit
    document["risk"]["level"] = "SEVERE"  # not a risk level
    document["found_or_returned_at"] = None  # a returned episode needs its return time
    response = await _post(hub, "POLICE", "/v1/occurrences", document)
    assert response.status_code == 422, response.text
    errors = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert errors == {
        ("/subject/nhs_number", "nhs_number_checksum"),
        ("/risk/level", "enum"),
        ("/found_or_returned_at", "missing"),
    }
    assert response.json()["detail"] == "3 problems found; nothing was published."


async def test_a_bundle_with_problems_in_its_shape_and_profile_gets_them_all_at_once(
    hub: Hub,
) -> None:
    records = hub.records(seed=2151)
    document = records.health_bundle(records.child())
    patient, encounter = document["entry"][0]["resource"], document["entry"][1]["resource"]
    patient["address"][0]["line"] = ["1 Synthetic Row"]  # not read: refused
    encounter["period"]["start"] = "yesterday"  # not a dateTime
    document["entry"].append({"resource": {"resourceType": "Practitioner", "id": "p1"}})
    patient["identifier"][0]["value"] = "9991234550"  # the profile's check: the check digit
    response = await _post(hub, "HEALTH", "/v1/fhir/Bundle", document)
    assert response.status_code == 422, response.text
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {
        "/entry/0/resource/address/0/line",
        "/entry/1/resource/period/start",
        "/entry/3/resource",
        "/entry/0/resource/identifier/0/value",
    } <= pointers
    assert to_json_value(response.json()["notice_id"]) is None
