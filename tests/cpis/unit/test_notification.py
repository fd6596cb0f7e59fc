"""The access notification (R13): a signed-ready HEALTH_SAFEGUARDING_ALERT from agency CPIS to
the LA that owns the plan, with the CP-IS flag and no clinical detail; and what the clinician
is shown."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from services.cpis.domain.access import (
    ACCESS_HISTORY,
    Access,
    AccessOutcome,
    cpis_record,
)
from services.cpis.domain.notification import (
    NotificationOrigin,
    access_notices,
    parse_contact,
    presenting_contact,
)
from services.cpis.domain.register import Plan, PlanType
from services.cpis.domain.requests import UnscheduledSetting
from services.hubkit.codec import MessageType
from services.hubkit.notice import encode_notice
from services.hubkit.topology import load_topology
from tests.cpis.factories import LA, NHS_NUMBER
from tests.factories import POLICIES, catalog

AT = dt.datetime(2026, 11, 20, 23, 15, 30, 123456, tzinfo=dt.UTC)
ORIGIN = NotificationOrigin(agency="CPIS", organisation_code="CPIS-REGISTER")
TOPOLOGY = load_topology(POLICIES)
REGISTER = TOPOLOGY.subscriber("cpis-register")
PLAN = Plan(
    plan_type=PlanType.CHILD_PROTECTION_PLAN,
    start=dt.date(2026, 6, 1),
    end=None,
    responsible_la=LA,
    la_contact="Duty social worker, Synthetic Borough Children's Services, 0300 000 0004",
    linkage_key="k" * 64,
    recorded_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
)
ACCESS = Access(
    access_id="a-1",
    at=AT,
    actor="clinician-subject",
    organisation="NHS-RXX00",
    setting=UnscheduledSetting.ED,
    outcome=AccessOutcome.HIT,
)


def _notices(*plans: Plan) -> list[dict[str, object]]:
    return access_notices(
        access=ACCESS,
        held=plans or (PLAN,),
        nhs_number=NHS_NUMBER,
        origin=ORIGIN,
        contact_point=presenting_contact("NHS-RXX00", TOPOLOGY.subscribers, fallback=REGISTER),
    )


def test_the_notice_is_a_cpis_alert_with_the_flag_and_nothing_clinical() -> None:
    (notice,) = _notices()
    assert notice["notice_type"] == "HEALTH_SAFEGUARDING_ALERT"
    assert notice["source"] == {
        "agency": "CPIS",
        "organisation_code": "CPIS-REGISTER",
        "source_reference": f"cpis-access/a-1/{LA}",
        "source_system": "safehub-cpis",
    }
    assert notice["classification"] == "OFFICIAL_SENSITIVE"
    detail = notice["detail"]
    assert isinstance(detail, dict)
    assert detail["unscheduled_care"] is True
    assert detail["setting"] == "ED"
    assert detail["seen_at"] == AT.replace(microsecond=123000)
    assert detail["cpis_flag"] == {
        "plan_type": "CHILD_PROTECTION_PLAN",
        "plan_start": dt.date(2026, 6, 1),
        "plan_end": None,
        "responsible_la_contact": PLAN.la_contact,
    }
    assert detail["clinical_detail"] == ""
    assert detail["navigator_risk_summary"] == ""
    assert detail["snomed_codes"] == []
    assert detail["released_for_cp_decision"] is False


def test_the_subject_carries_only_the_register_identifiers() -> None:
    (notice,) = _notices()
    subject = notice["subject"]
    assert isinstance(subject, dict)
    assert {k: v for k, v in subject.items() if v not in (None, "", False)} == {
        "linkage_key": "k" * 64,
        "nhs_number": NHS_NUMBER,
        "responsible_la": LA,
    }
    assert notice["referrer"] is None
    assert notice["third_parties"] == []
    assert notice["concerns"] == []


def test_the_contact_is_the_presenting_trusts_safeguarding_team() -> None:
    (notice,) = _notices()
    assert notice["contact_point"] == {
        "role": "Safeguarding children team",
        "organisation": "Synthetic NHS Trust",
        "telephone": "0300 000 0009",
        "secure_email": None,
    }


def test_an_organisation_without_a_listed_team_falls_back_to_the_register() -> None:
    contact = presenting_contact("NHS-UNKNOWN", TOPOLOGY.subscribers, fallback=REGISTER)
    assert contact["role"] == "CP-IS register"
    assert contact["telephone"] == "0300 000 0011"


def test_a_contact_line_that_does_not_split_keeps_its_text() -> None:
    assert parse_contact("Call the ward", organisation="NHS-X") == {
        "role": "Call the ward",
        "organisation": "NHS-X",
        "telephone": "",
        "secure_email": None,
    }


def test_the_notice_encodes_with_the_hub_schema_and_its_id_is_stable() -> None:
    (notice,) = _notices()
    cat = catalog()
    decoded = cat.decode(encode_notice(cat, notice), MessageType.NOTICE)
    assert decoded["detail"]["cpis_flag"]["plan_type"] == "CHILD_PROTECTION_PLAN"
    assert _notices()[0]["notice_id"] == notice["notice_id"]  # a re-send is the same notice


def test_each_owning_la_is_told_about_its_own_plan_only() -> None:
    looked_after = dataclasses.replace(
        PLAN,
        plan_type=PlanType.LOOKED_AFTER,
        responsible_la="LA-E09000098",
        la_contact="Children in care team, Other Borough, 0300 000 0098",
    )
    ended_cp = dataclasses.replace(PLAN, end=dt.date(2026, 9, 1))
    notices = _notices(looked_after, ended_cp)
    by_la = {n["subject"]["responsible_la"]: n for n in notices}  # type: ignore[index]
    assert set(by_la) == {"LA-E09000098", LA}
    assert by_la["LA-E09000098"]["detail"]["cpis_flag"]["plan_type"] == "LOOKED_AFTER"  # type: ignore[index]
    assert by_la[LA]["detail"]["cpis_flag"]["plan_end"] == dt.date(2026, 9, 1)  # type: ignore[index]
    assert len({n["notice_id"] for n in notices}) == 2


def test_a_refused_access_notifies_nobody() -> None:
    refused = dataclasses.replace(ACCESS, setting=None, outcome=AccessOutcome.REFUSED)
    with pytest.raises(ValueError, match="notifies nobody"):
        access_notices(
            access=refused, held=(PLAN,), nhs_number=NHS_NUMBER, origin=ORIGIN, contact_point={}
        )


def test_the_clinician_sees_the_minimum_and_the_last_25_accesses_without_names() -> None:
    rows = [
        (AT - dt.timedelta(hours=i), "ED" if i % 2 else "MIU", "NHS-RXX00" if i else "NHS-RYY99")
        for i in range(30)
    ]
    record = cpis_record(
        nhs_number=NHS_NUMBER,
        held=(PLAN,),
        accesses=reversed(rows),
        organisation_names={"NHS-RXX00": "Synthetic NHS Trust"},
    )
    assert [p.plan_type for p in record.plans] == [PlanType.CHILD_PROTECTION_PLAN]
    assert record.plans[0].responsible_la_contact == PLAN.la_contact
    assert len(record.accesses) == ACCESS_HISTORY
    assert record.accesses[0].at == AT
    assert record.accesses[0].organisation_name is None  # not a known organisation
    assert record.accesses[1].organisation_name == "Synthetic NHS Trust"
    fields = {f.name for f in dataclasses.fields(record.accesses[0])}
    assert fields == {"at", "setting", "organisation", "organisation_name"}
    assert "linkage_key" not in {f.name for f in dataclasses.fields(record.plans[0])}
