"""Through the real broker: each adapter publishes a notice that decodes, whose signature
verifies with the agency's key, keyed by the child's linkage key; uploads publish good rows."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.adapters.childrens_services.mapping import map_csc_nrm_referral
from services.adapters.childrens_services.models import CscNrmReferral
from services.adapters.police.mapping import map_police_nrm_referral
from services.adapters.police.models import PoliceNrmReferral
from services.hubkit.notice import to_json_value
from services.synthetic.native import SSDA903_COLUMNS, VCS_COLUMNS, to_csv
from tests.adapters.helpers import AGENCIES, PATHS, context, map_native
from tests.adapters.integration.conftest import Hub, notice_ids

pytestmark = pytest.mark.kafka


def _seen(hub: Hub, wanted: set[str]) -> Any:
    def done(records: list[ConsumerRecord]) -> bool:
        return wanted <= set(notice_ids(hub, records))

    return done


@pytest.mark.parametrize("agency", AGENCIES)
async def test_record_is_published_signed_and_keyed(hub: Hub, agency: str) -> None:
    records = hub.records(seed=100 + AGENCIES.index(agency))
    document = records.record(agency)
    expected = map_native(agency, document, keyer=hub.keyer)
    reader = await hub.reader(agency)
    try:
        headers = await hub.headers(agency)
        if agency == "HEALTH":
            response = await hub.adapters[agency].post(
                PATHS[agency],
                content=json.dumps(document),
                headers={**headers, "Content-Type": "application/fhir+json"},
            )
        else:
            response = await hub.adapters[agency].post(
                PATHS[agency], json=document, headers=headers
            )
        assert response.status_code == 202, response.text
        assert response.json() == {
            "notice_id": expected["notice_id"],
            "source_reference": expected["source"]["source_reference"],
            "status": "published",
            "warnings": [],
        }
        seen = await reader.read_until(_seen(hub, {expected["notice_id"]}), timeout_s=30)
    finally:
        await reader.stop()

    mine = [r for r in seen if hub.open(r)[0]["notice_id"] == expected["notice_id"]]
    assert len(mine) == 1
    notice, signer = hub.open(mine[0])
    assert signer == hub.topology.agency(agency).principal
    assert mine[0].key == expected["subject"]["linkage_key"].encode()
    assert to_json_value(notice) == to_json_value(expected)


async def test_ssda903_upload_publishes_good_rows_and_reports_bad_ones(hub: Hub) -> None:
    scenario = hub.records(seed=201).repeated_missing(episodes=4)
    lines = scenario.ssda903_csv.splitlines()
    header = lines[0].split(",")
    bad = lines[3].split(",")
    bad[header.index("MISSING")] = "X"
    lines[3] = ",".join(bad)
    upload = "\n".join(lines) + "\n"

    reader = await hub.reader("CHILDRENS_SERVICES")
    try:
        response = await hub.adapters["CHILDRENS_SERVICES"].post(
            "/v1/ssda903/missing-episodes",
            files={"file": ("missing.csv", upload.encode(), "text/csv")},
            data={"contact_role": "Children in care team", "contact_telephone": "0300 000 0300"},
            headers=await hub.headers("CHILDRENS_SERVICES"),
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["rows_total"], report["published"], report["rejected"]) == (4, 3, 1)
        rejected = report["rows"][2]
        assert rejected["status"] == "rejected"
        assert rejected["line"] == 4
        assert [e["pointer"] for e in rejected["errors"]] == ["/MISSING"]
        published = {r["notice_id"] for r in report["rows"] if r["status"] == "published"}
        seen = await reader.read_until(_seen(hub, published), timeout_s=30)

        again = await hub.adapters["CHILDRENS_SERVICES"].post(
            "/v1/ssda903/missing-episodes",
            files={"file": ("missing.csv", upload.encode(), "text/csv")},
            data={"contact_role": "Children in care team", "contact_telephone": "0300 000 0300"},
            headers=await hub.headers("CHILDRENS_SERVICES"),
        )
        assert again.json()["duplicates"] == 3
        seen += await reader.drain(quiet_s=1.0)
    finally:
        await reader.stop()
    ids = [i for i in notice_ids(hub, seen) if i in published]
    assert sorted(ids) == sorted(published)  # each exactly once, even after the re-upload
    keys = {r.key for r in seen if hub.open(r)[0]["notice_id"] in published}
    assert keys == {hub.keyer.key_for(nhs_number=scenario.child.nhs_number).encode()}


async def test_vcs_csv_upload(hub: Hub) -> None:
    records = hub.records(seed=202)
    forms = [records.vcs_update(records.child(), kind="ENGAGEMENT") for _ in range(5)]
    rows = [records.vcs_csv_row(f) for f in forms]
    rows[4]["date_of_birth"] = "yesterday"
    upload = to_csv(rows, VCS_COLUMNS).encode()
    response = await hub.adapters["VOLUNTARY_SECTOR"].post(
        "/v1/updates/csv",
        files={"file": ("updates.csv", upload, "text/csv")},
        headers=await hub.headers("VOLUNTARY_SECTOR"),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert [r["status"] for r in report["rows"]] == ["published"] * 4 + ["rejected"]
    assert report["rows"][4]["errors"][0]["pointer"] == "/date_of_birth"


async def test_upload_with_wrong_header_is_rejected_whole(hub: Hub) -> None:
    response = await hub.adapters["CHILDRENS_SERVICES"].post(
        "/v1/ssda903/missing-episodes",
        files={
            "file": ("x.csv", to_csv([{"CHILD": "A1"}], ["CHILD", "WHEN"]).encode(), "text/csv")
        },
        data={"contact_role": "Children in care team", "contact_telephone": "0300 000 0300"},
        headers=await hub.headers("CHILDRENS_SERVICES"),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    codes = {(e["pointer"], e["code"]) for e in response.json()["errors"]}
    assert ("/WHEN", "unknown_column") in codes
    assert ("/MIS_START", "missing_column") in codes
    assert SSDA903_COLUMNS[0] == "CHILD"


async def test_a_warning_comes_back_with_the_202_and_the_notice_is_published(hub: Hub) -> None:
    records = hub.records(seed=203)
    document = records.police_dash(records.child())
    document["subject"]["school_urn"] = "URN 12345"  # five digits: not a URN
    expected = map_native("POLICE", document, keyer=hub.keyer)
    reader = await hub.reader("POLICE")
    try:
        response = await hub.adapters["POLICE"].post(
            PATHS["POLICE"], json=document, headers=await hub.headers("POLICE")
        )
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["status"] == "published"
        assert [(w["pointer"], w["code"]) for w in answer["warnings"]] == [
            ("/subject/school_urn", "school_urn_invalid")
        ]
        seen = await reader.read_until(_seen(hub, {expected["notice_id"]}), timeout_s=30)
    finally:
        await reader.stop()
    (notice,) = [n for n in (hub.open(r)[0] for r in seen) if n["notice_id"] == answer["notice_id"]]
    assert notice["detail"]["school_urn"] is None


async def test_903_row_without_return_time_is_published_with_a_warning(hub: Hub) -> None:
    scenario = hub.records(seed=204).repeated_missing(episodes=2)
    lines = scenario.ssda903_csv.splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    row[header.index("MIS_END_TIME")] = ""
    lines[1] = ",".join(row)
    response = await hub.adapters["CHILDRENS_SERVICES"].post(
        "/v1/ssda903/missing-episodes",
        files={"file": ("missing.csv", ("\n".join(lines) + "\n").encode(), "text/csv")},
        data={"contact_role": "Children in care team", "contact_telephone": "0300 000 0300"},
        headers=await hub.headers("CHILDRENS_SERVICES"),
    )
    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [r["status"] for r in rows] == ["published", "published"]
    assert [(w["pointer"], w["code"]) for w in rows[0]["warnings"]] == [
        ("/MIS_END_TIME", "time_unknown")
    ]
    assert rows[1]["warnings"] == []


@pytest.mark.parametrize("agency", ["POLICE", "CHILDRENS_SERVICES"])
async def test_first_responder_nrm_referral_is_published(hub: Hub, agency: str) -> None:
    records = hub.records(seed=205 + AGENCIES.index(agency))
    child = records.child()
    if agency == "POLICE":
        document = records.police_nrm_referral(child)
        expected = map_police_nrm_referral(
            PoliceNrmReferral.model_validate(document), context(agency, hub.keyer)
        ).notice
    else:
        document = records.csc_nrm_referral(child)
        expected = map_csc_nrm_referral(
            CscNrmReferral.model_validate(document), context(agency, hub.keyer)
        ).notice
    reader = await hub.reader(agency)
    try:
        response = await hub.adapters[agency].post(
            "/v1/nrm-referrals", json=document, headers=await hub.headers(agency)
        )
        assert response.status_code == 202, response.text
        assert response.json()["notice_id"] == expected["notice_id"]
        seen = await reader.read_until(_seen(hub, {expected["notice_id"]}), timeout_s=30)
    finally:
        await reader.stop()
    (notice,) = [
        n for n in (hub.open(r)[0] for r in seen) if n["notice_id"] == expected["notice_id"]
    ]
    assert notice["notice_type"] == "TRAFFICKING_NRM"
    assert to_json_value(notice) == to_json_value(expected)
