"""R13: NHS unscheduled care sees plan type, dates and LA contact only, by lookup when the
child presents, never by broadcast. The CP-IS register (which serves those lookups) receives
child protection plan and looked-after status changes only, with only what CP-IS holds."""

from __future__ import annotations

import pytest

from tests.rules.harness import OUTSIDE_MASH, RulesHub
from tests.rules.natives import CSC_PATH, HEALTH_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

REGISTER = "cpis-register"
CPIS_MINIMUM = {
    "notice_id",
    "notice_type",
    "created_at",
    "subject.linkage_key",
    "subject.nhs_number",
    "subject.responsible_la",
    "detail.change",
    "detail.effective_date",
    "detail.cp_category",
    "detail.legal_status",
    "contact_point.role",
    "contact_point.organisation",
    "contact_point.telephone",
    "contact_point.secure_email",
}


async def test_a_cpis_flagged_alert_is_broadcast_to_no_one_outside_the_mash(
    rules_hub: RulesHub, natives: Natives
) -> None:
    bundle = natives.health_alert(natives.child(), setting="ED", cp_plan=True)
    delivery = await rules_hub.send("HEALTH", HEALTH_PATH, bundle)

    assert delivery.value("mash-health-navigator", "detail.cpis_flag"), delivery.summary()
    # No unscheduled care clinician, register, school or charity is sent the flag: unscheduled
    # care looks it up through the CP-IS service when the child presents. (The LA that owns
    # the plan may be told; nothing else outside the MASH.)
    outside = (delivery.recipients & set(OUTSIDE_MASH)) - {"responsible-la"}
    assert not outside, f"a CP-IS flagged alert was broadcast to {sorted(outside)}"


@pytest.mark.parametrize("change", ["cp-plan", "looked-after"])
async def test_plan_and_looked_after_changes_reach_the_register_with_only_the_minimum(
    rules_hub: RulesHub, natives: Natives, change: str
) -> None:
    child = natives.child()
    record = natives.csc_cp_plan(child) if change == "cp-plan" else natives.csc_looked_after(child)
    delivery = await rules_hub.send("CHILDRENS_SERVICES", CSC_PATH, record)

    assert delivery.received(REGISTER), delivery.summary()
    beyond = delivery.paths(REGISTER) - CPIS_MINIMUM
    assert not beyond, f"the CP-IS register received more than CP-IS holds: {sorted(beyond)}"
    assert delivery.value(REGISTER, "subject.nhs_number") == child.nhs_number
    assert delivery.value(REGISTER, "detail.change") in {"CP_PLAN_STARTED", "LOOKED_AFTER_STARTED"}


@pytest.mark.parametrize("change", ["s47", "cin-referral"])
async def test_other_status_changes_do_not_reach_the_register(
    rules_hub: RulesHub, natives: Natives, change: str
) -> None:
    child = natives.child()
    record = natives.csc_s47(child) if change == "s47" else natives.csc_referral(child)
    delivery = await rules_hub.send("CHILDRENS_SERVICES", CSC_PATH, record)

    assert delivery.received("mash-manager"), delivery.summary()
    assert not delivery.received(REGISTER), delivery.summary()
