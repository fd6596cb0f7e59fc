"""R1: any agency may send a notice to the MASH without consent when a child is at risk; the
notice records whether the family was told and, if not, why. Consent that was refused, for a
child at no apparent risk and in no immediate danger, is no basis to share with partners."""

from __future__ import annotations

import pytest

from tests.rules.harness import INSIDE_MASH, OUTSIDE_MASH, RulesHub
from tests.rules.natives import POLICE_PATH, VCS_PATH, Natives, merge

pytestmark = [pytest.mark.kafka, pytest.mark.opa]


async def test_a_police_contact_reaches_the_mash_manager_with_the_family_record(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_contact(natives.child())
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received("mash-manager"), delivery.summary()
    assert delivery.value("mash-manager", "consent.status") == "NOT_SOUGHT"
    assert delivery.value("mash-manager", "consent.reason_not_sought")
    assert delivery.value("mash-manager", "family_informed.informed") is False
    assert (
        delivery.value("mash-manager", "family_informed.reason_not_informed")
        == (record["family_informed"]["reason_not_informed"])
    )


async def test_a_charitys_consented_low_risk_engagement_update_stays_with_the_mash_manager(
    rules_hub: RulesHub, natives: Natives
) -> None:
    form = natives.vcs_update(
        natives.child(), kind="ENGAGEMENT", consent_status="GIVEN", risk_level="LOW"
    )
    delivery = await rules_hub.send("VOLUNTARY_SECTOR", VCS_PATH, form)

    assert delivery.received("mash-manager"), delivery.summary()
    for partner in ("mash-police-researcher", "mash-health-navigator"):
        assert not delivery.received(partner), (
            f"{partner} got a consent-based low-risk engagement update:\n{delivery.summary()}"
        )


REFUSED = {
    "consent": {"status": "REFUSED", "reason_not_sought": None},
    "risk": {"level": "NO_APPARENT_RISK", "immediate_danger": False},
}


@pytest.mark.parametrize("sender", ["POLICE", "VOLUNTARY_SECTOR"])
async def test_refused_consent_with_no_apparent_risk_goes_no_further_than_the_mash_manager(
    rules_hub: RulesHub, natives: Natives, sender: str
) -> None:
    child = natives.child()
    if sender == "POLICE":
        delivery = await rules_hub.send(
            "POLICE", POLICE_PATH, merge(natives.police_contact(child), REFUSED)
        )
    else:
        form = natives.vcs_update(
            child, kind="CONCERN", consent_status="REFUSED", risk_level="NO_APPARENT_RISK"
        )
        delivery = await rules_hub.send("VOLUNTARY_SECTOR", VCS_PATH, form)

    assert delivery.notice["consent"]["status"] == "REFUSED"
    beyond = delivery.recipients - {"mash-manager"}
    assert not beyond, (
        f"consent was refused and there is no apparent risk, yet {sorted(beyond)} received "
        f"it:\n{delivery.summary()}"
    )
    assert set(delivery.audit) >= {*INSIDE_MASH, *OUTSIDE_MASH}
