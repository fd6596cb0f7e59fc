"""R12: TRAFFICKING_NRM goes to police, the responsible local authority (and the placing
authority of a looked-after child) and the MASH manager; the exploitation account is
restricted to those. Police and local authorities are first responders too and must be able
to refer. Others inside the MASH see a flag; nobody else gets anything."""

from __future__ import annotations

import pytest

from tests.rules.harness import Delivery, RulesHub
from tests.rules.natives import CSC_NRM_PATH, HUB_LA, OTHER_LA, POLICE_NRM_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

ENTITLED = ("mash-police-researcher", "mash-manager", "responsible-la")


def assert_routed_as_an_nrm(delivery: Delivery, account: str) -> None:
    assert delivery.notice["notice_type"] == "TRAFFICKING_NRM"
    for subscriber in ENTITLED:
        assert delivery.value(subscriber, "detail.exploitation_account") == account, (
            delivery.summary()
        )
    assert delivery.outcome("mash-health-navigator") == "FLAG_ONLY", delivery.summary()
    assert account.lower() not in delivery.text("mash-health-navigator")
    others = delivery.recipients - {*ENTITLED, "mash-health-navigator"}
    assert not others, f"an NRM referral reached {sorted(others)}:\n{delivery.summary()}"


async def test_the_police_refer_as_first_responder(rules_hub: RulesHub, natives: Natives) -> None:
    record = natives.police_nrm(natives.child(exploitation_flagged=True))
    delivery = await rules_hub.send("POLICE", POLICE_NRM_PATH, record)

    assert_routed_as_an_nrm(delivery, record["exploitation_account"])


async def test_the_local_authority_refers_as_first_responder(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.csc_nrm(natives.child(exploitation_flagged=True))
    delivery = await rules_hub.send("CHILDRENS_SERVICES", CSC_NRM_PATH, record)

    assert_routed_as_an_nrm(delivery, record["exploitation_account"])


async def test_the_placing_authority_of_a_looked_after_child_gets_the_referral(
    rules_hub: RulesHub, natives: Natives
) -> None:
    child = natives.child(looked_after=True, exploitation_flagged=True)
    record = natives.police_nrm(child, responsible_la=OTHER_LA, placing_la=HUB_LA)
    delivery = await rules_hub.send("POLICE", POLICE_NRM_PATH, record)

    account = record["exploitation_account"]
    assert delivery.value("responsible-la", "detail.exploitation_account") == account, (
        f"{HUB_LA} placed the child and should get the referral:\n{delivery.summary()}"
    )
