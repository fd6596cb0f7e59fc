"""R6: legacy 5x5x5 handling codes decide the recipients. 2 -> MASH decision makers as P, with
the authorisation recorded; 1 and 3 -> law enforcement only (police researcher; others in the
MASH a flag); 4-5 -> police only, no flag."""

from __future__ import annotations

import pytest

from tests.rules.harness import OUTSIDE_MASH, RulesHub
from tests.rules.natives import POLICE_PATH, RUN, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

SANITISED = f"synthetic sanitised intelligence {RUN}".lower()
NOT_POLICE_IN_MASH = ("mash-manager", "mash-health-navigator")


async def test_code_2_with_a_recorded_authorisation_reaches_the_mash_manager_like_p(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_intelligence(
        natives.child(),
        scheme="5x5x5",
        handling="2",
        assessment="2",
        authorisation=f"AUTH-{RUN}",
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    manager = "mash-manager"
    assert delivery.value(manager, "detail.sanitised_text") == record["sanitised_text"], (
        delivery.summary()
    )
    for path in ("referrer", "narrative.full_account", "detail.source_details"):
        assert delivery.value(manager, path) is None, f"the MASH manager received {path}"
    outside = delivery.recipients & set(OUTSIDE_MASH)
    assert not outside, f"legacy code 2 intelligence reached {sorted(outside)}"


async def test_code_2_without_an_authorisation_stays_with_law_enforcement(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_intelligence(
        natives.child(), scheme="5x5x5", handling="2", assessment="2"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    for subscriber in NOT_POLICE_IN_MASH:
        if delivery.received(subscriber):
            assert SANITISED not in delivery.text(subscriber), delivery.summary()
    assert not delivery.recipients & set(OUTSIDE_MASH)


@pytest.mark.parametrize("code", ["1", "3"])
async def test_codes_1_and_3_go_to_the_police_researcher_and_others_see_a_flag(
    rules_hub: RulesHub, natives: Natives, code: str
) -> None:
    record = natives.police_intelligence(
        natives.child(), scheme="5x5x5", handling=code, assessment="2"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert (
        delivery.value("mash-police-researcher", "detail.sanitised_text")
        == (record["sanitised_text"])
    ), delivery.summary()
    for subscriber in NOT_POLICE_IN_MASH:
        assert delivery.outcome(subscriber) == "FLAG_ONLY", delivery.summary()
        assert SANITISED not in delivery.text(subscriber)
    assert not delivery.recipients & set(OUTSIDE_MASH)


@pytest.mark.parametrize("code", ["4", "5"])
async def test_codes_4_and_5_stay_with_police_without_even_a_flag(
    rules_hub: RulesHub, natives: Natives, code: str
) -> None:
    record = natives.police_intelligence(
        natives.child(), scheme="5x5x5", handling=code, assessment="2"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    beyond_police = delivery.recipients - {"mash-police-researcher", "police-safeguarding-team"}
    assert not beyond_police, (
        f"handling code {code} reached {sorted(beyond_police)}:\n{delivery.summary()}"
    )
    assert {delivery.outcome(s) for s in NOT_POLICE_IN_MASH} == {"DENY"}
