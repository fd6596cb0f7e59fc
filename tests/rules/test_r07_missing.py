"""R7: a missing child reported, found or returned: notify the MASH and the responsible local
authority (and, only for a looked-after child, the placing authority). When the child is back
the return home interview provider commissioned by the child's responsible authority (not
every provider) gets identifiers, return time, risk grade, exploitation flag and carer
contact only; the interview is due 72 hours after the return, and nothing is invented when
the return time is unknown."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import HUB_LA, OTHER_LA, POLICE_PATH, SSDA903_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

RHI = "return-interview-provider"
LA = "responsible-la"
RETURN_INTERVIEW_MINIMUM = {
    "notice_id",
    "notice_type",
    "created_at",
    # identifiers
    "subject.linkage_key",
    "subject.given_name",
    "subject.family_name",
    "subject.date_of_birth",
    "subject.nhs_number",
    "subject.la_child_id",
    "subject.upn",
    # return time, risk grade, exploitation flag, carer contact
    "detail.status",
    "detail.ended_at",
    "detail.return_interview_due_at",
    "detail.risk_grade",
    "subject.exploitation_flagged",
    "detail.carer_contact",
    # whom to call
    "contact_point.role",
    "contact_point.organisation",
    "contact_point.telephone",
    "contact_point.secure_email",
}


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_reported_child_is_notified_to_the_mash_and_the_responsible_la_only(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_missing(natives.child(), status="REPORTED")
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert {"mash-manager", LA} <= delivery.recipients, delivery.summary()
    assert not delivery.received(RHI), "the child is not back yet: no return interview"


@pytest.mark.parametrize(
    ("looked_after", "placing_la_told"), [(True, True), (False, False)], ids=["lac", "not-lac"]
)
async def test_the_placing_authority_is_told_only_about_a_looked_after_child(
    rules_hub: RulesHub, natives: Natives, looked_after: bool, placing_la_told: bool
) -> None:
    child = natives.child(looked_after=looked_after)
    record = natives.police_missing(
        child, status="REPORTED", responsible_la=OTHER_LA, placing_la=HUB_LA
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received(LA) is placing_la_told, delivery.summary()
    assert delivery.received("mash-manager")


@pytest.mark.parametrize("status", ["FOUND", "RETURNED"])
async def test_the_commissioned_provider_gets_the_return_interview_minimum_when_the_child_is_back(
    rules_hub: RulesHub, natives: Natives, status: str
) -> None:
    record = natives.police_missing(natives.child(exploitation_flagged=True), status=status)
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received(RHI), delivery.summary()
    beyond = delivery.paths(RHI) - RETURN_INTERVIEW_MINIMUM
    assert not beyond, f"the return interview provider received more than it needs: {beyond}"
    back = _time(record["found_or_returned_at"])
    assert _time(delivery.value(RHI, "detail.ended_at")) == back
    assert _time(delivery.value(RHI, "detail.return_interview_due_at")) == back + dt.timedelta(
        hours=72
    )
    assert delivery.value(RHI, "subject.exploitation_flagged") is True
    assert delivery.value(RHI, "detail.carer_contact") == record["carer_contact"]
    assert delivery.received(LA)


async def test_a_provider_hears_nothing_about_a_child_of_another_authority(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_missing(natives.child(), status="RETURNED", responsible_la=OTHER_LA)
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received("mash-manager"), delivery.summary()
    assert not delivery.received(RHI), (
        f"{RHI} is commissioned by {HUB_LA}, not by {OTHER_LA}:\n{delivery.summary()}"
    )
    assert not delivery.received(LA)


@pytest.mark.parametrize("with_return_time", [True, False], ids=["time", "no-time"])
async def test_an_ssda903_return_without_a_time_gets_no_invented_interview_deadline(
    rules_hub: RulesHub, natives: Natives, with_return_time: bool
) -> None:
    child = natives.child(looked_after=True)
    csv_text = natives.ssda903_csv(child, with_return_time=with_return_time)
    (delivery,) = await rules_hub.upload(
        "CHILDRENS_SERVICES",
        SSDA903_PATH,
        csv_text,
        contact_role="Children in care team",
        contact_telephone="0300 000 0300",
    )

    assert delivery.received("mash-manager"), delivery.summary()
    assert delivery.received(RHI), delivery.summary()
    due = {s: delivery.value(s, "detail.return_interview_due_at") for s in delivery.recipients}
    if with_return_time:
        ended = _time(delivery.value(RHI, "detail.ended_at"))
        assert _time(due[RHI]) == ended + dt.timedelta(hours=72)
    else:
        invented = {s: d for s, d in due.items() if d is not None}
        assert not invented, f"a return interview deadline was invented: {invented}"
        assert delivery.notice["detail"]["return_interview_due_at"] is None
