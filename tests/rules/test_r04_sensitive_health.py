"""R4: a sexual health, termination or SARC attendance stays with the health navigator unless
a named or designated professional releases it for a child protection decision. A flag must
not itself disclose: to anyone not entitled to know, the explanation, the contact and the
list of withheld fields never name the service."""

from __future__ import annotations

import pytest

from tests.rules.harness import OUTSIDE_MASH, RulesHub
from tests.rules.natives import HEALTH_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

SERVICE_WORDS = ("sexual", "termination", "sarc", "pregnan")
SERVICES = {
    # setting -> how the attending service itself signs its referral
    "SEXUAL_HEALTH": "Sexual health clinic duty nurse",
    "TERMINATION": "Termination of pregnancy service nurse",
    "SARC": "SARC crisis worker",
}


def _named_service(text: str) -> list[str]:
    return [word for word in SERVICE_WORDS if word in text]


@pytest.mark.parametrize("setting", sorted(SERVICES))
async def test_others_in_the_mash_see_a_flag_that_never_names_the_service(
    rules_hub: RulesHub, natives: Natives, setting: str
) -> None:
    bundle = natives.health_alert(natives.child(), setting=setting, contact_role=SERVICES[setting])
    delivery = await rules_hub.send("HEALTH", HEALTH_PATH, bundle)

    assert delivery.value("mash-health-navigator", "detail.setting") == setting
    for partner in ("mash-manager", "mash-police-researcher"):
        assert delivery.outcome(partner) == "FLAG_ONLY", delivery.summary()
        named = _named_service(delivery.text(partner))
        assert not named, (
            f"{partner}'s flag discloses the service ({named}): explanation "
            f"{delivery.item(partner)['explanation']!r}, contact "
            f"{delivery.item(partner)['contact_point']}, withheld "
            f"{delivery.item(partner)['fields_withheld']}"
        )
    outside = delivery.recipients & set(OUTSIDE_MASH)
    assert not outside, f"{sorted(outside)} received a {setting} attendance"


async def test_a_released_attendance_reaches_the_mash_manager_but_no_other_partner(
    rules_hub: RulesHub, natives: Natives
) -> None:
    bundle = natives.health_alert(
        natives.child(), setting="SARC", released=True, contact_role=SERVICES["SARC"]
    )
    delivery = await rules_hub.send("HEALTH", HEALTH_PATH, bundle)

    assert delivery.value("mash-manager", "detail.setting") == "SARC", delivery.summary()
    assert delivery.value("mash-manager", "detail.clinical_detail") is None  # still R3
    researcher = "mash-police-researcher"
    if delivery.received(researcher):
        assert not _named_service(delivery.text(researcher)), delivery.item(researcher)
