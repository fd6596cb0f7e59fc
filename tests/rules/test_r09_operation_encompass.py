"""R9: domestic abuse with a child of compulsory school age or in sixth form (up to 18)
present or normally resident in the household: the school's designated safeguarding lead,
matched by the school's URN however the sender writes it, gets the Operation Encompass
minimum, no narrative."""

from __future__ import annotations

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

SCHOOL = "school-dsl"  # organisation URN-999999
ENCOMPASS_MINIMUM = {
    "notice_id",
    "notice_type",
    "created_at",
    "source.agency",
    "subject.linkage_key",
    "subject.given_name",
    "subject.family_name",
    "subject.date_of_birth",
    "subject.upn",
    "detail.incident_at",
    "contact_point.role",
    "contact_point.organisation",
    "contact_point.telephone",
    "contact_point.secure_email",
}


@pytest.mark.parametrize("written", ["999999", "URN 999999"])
async def test_the_school_gets_the_encompass_minimum_for_a_sixth_former_present(
    rules_hub: RulesHub, natives: Natives, written: str
) -> None:
    record = natives.police_dash(natives.child(age=17), school_urn=written, present=True)
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received(SCHOOL), delivery.summary()
    beyond = delivery.paths(SCHOOL) - ENCOMPASS_MINIMUM
    assert not beyond, f"the school received more than the Operation Encompass minimum: {beyond}"
    assert "narrative" not in delivery.view(SCHOOL)
    assert delivery.value(SCHOOL, "detail.incident_at")


async def test_a_child_normally_resident_but_not_present_is_covered_too(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_dash(natives.child(age=10), school_urn="999999", present=False)
    record["children_normally_resident"] = True
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received(SCHOOL), delivery.summary()
    assert "narrative" not in delivery.view(SCHOOL)


@pytest.mark.parametrize(
    ("age", "urn"), [(10, "999001"), (3, "999999")], ids=["another-school", "under-school-age"]
)
async def test_no_other_school_and_no_child_below_school_age(
    rules_hub: RulesHub, natives: Natives, age: int, urn: str
) -> None:
    record = natives.police_dash(natives.child(age=age), school_urn=urn, present=True)
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received("mash-manager"), delivery.summary()
    assert not delivery.received(SCHOOL), delivery.summary()
