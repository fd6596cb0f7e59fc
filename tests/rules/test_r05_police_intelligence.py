"""R5: police intelligence with handling P may go to MASH decision makers as
OFFICIAL-SENSITIVE, sanitised text only; handling C goes to the police researcher only, others
in the MASH see a flag. Nothing that could identify a source ever leaves police; grade E
intelligence is not shared outside police without review."""

from __future__ import annotations

import pytest

from tests.rules.harness import OUTSIDE_MASH, Delivery, RulesHub
from tests.rules.natives import POLICE_PATH, RUN, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

POLICE = {"mash-police-researcher", "police-safeguarding-team"}
SOURCE_IDENTIFYING = {
    "source details": f"{RUN}-SRC".lower(),
    "unsanitised account": f"{RUN}-FULL".lower(),
    "reporting person": "synthetic informant",
    "reporting person's number": "07700 900111",
    "third party": "synthetic suspect",
}
SANITISED = f"synthetic sanitised intelligence {RUN}".lower()


def assert_nothing_identifies_the_source(delivery: Delivery) -> None:
    for subscriber in delivery.recipients - POLICE:
        text = delivery.text(subscriber)
        leaked = [what for what, marker in SOURCE_IDENTIFYING.items() if marker in text]
        assert not leaked, f"{subscriber} received the {', '.join(leaked)}"
    for subscriber in delivery.recipients:
        assert f"{RUN}-SRC".lower() not in delivery.text(subscriber), (
            f"{subscriber} received source-identifying detail"
        )


async def test_handling_p_reaches_the_mash_manager_sanitised_and_official_sensitive(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_intelligence(
        natives.child(), scheme="3x5x2", handling="P", assessment="B", classification="OFFICIAL"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    manager = "mash-manager"
    assert delivery.value(manager, "detail.sanitised_text") == record["sanitised_text"], (
        delivery.summary()
    )
    for path in ("referrer", "third_parties", "narrative.full_account", "detail.source_details"):
        assert delivery.value(manager, path) is None, f"the MASH manager received {path}"
    assert delivery.value(manager, "classification") == "OFFICIAL_SENSITIVE", (
        "the OFFICIAL-SENSITIVE caveat applies whatever the sender marked"
    )
    assert_nothing_identifies_the_source(delivery)


async def test_grade_e_intelligence_is_not_shared_outside_police(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_intelligence(
        natives.child(), scheme="3x5x2", handling="P", assessment="E"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    for subscriber in delivery.recipients - POLICE:
        assert SANITISED not in delivery.text(subscriber), (
            f"{subscriber} received grade E intelligence:\n{delivery.summary()}"
        )
        assert delivery.outcome(subscriber) == "FLAG_ONLY", delivery.summary()
    assert_nothing_identifies_the_source(delivery)


async def test_handling_c_goes_to_the_police_researcher_and_others_in_the_mash_see_a_flag(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_intelligence(
        natives.child(), scheme="3x5x2", handling="C", assessment="B"
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert (
        delivery.value("mash-police-researcher", "detail.sanitised_text")
        == (record["sanitised_text"])
    ), delivery.summary()
    for partner in ("mash-manager", "mash-health-navigator"):
        assert delivery.outcome(partner) == "FLAG_ONLY", delivery.summary()
        assert SANITISED not in delivery.text(partner)
    outside = delivery.recipients & set(OUTSIDE_MASH)
    assert not outside, f"handling C intelligence reached {sorted(outside)}"
    assert_nothing_identifies_the_source(delivery)
