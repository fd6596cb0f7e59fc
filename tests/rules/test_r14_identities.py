"""R14: referrer and third-party identities are masked for every recipient outside the MASH."""

from __future__ import annotations

import pytest

from tests.rules.harness import OUTSIDE_MASH, RulesHub
from tests.rules.natives import POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

PEOPLE = ("synthetic neighbour", "synthetic associate", "07700 900789")


async def test_referrer_and_third_parties_are_masked_outside_the_mash(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_missing(natives.child(), status="RETURNED")
    record["referrer"]["contact"] = "07700 900222"
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.value("mash-manager", "referrer.name") == record["referrer"]["name"]
    outside = delivery.recipients & set(OUTSIDE_MASH)
    assert outside, f"nobody outside the MASH received the episode:\n{delivery.summary()}"
    for subscriber in outside:
        shown = {
            p
            for p in delivery.paths(subscriber)
            if p.split(".")[0] in ("referrer", "third_parties")
        }
        assert not shown, f"{subscriber} received {sorted(shown)}"
        text = delivery.text(subscriber)
        for marker in (*PEOPLE, "07700 900222"):
            assert marker not in text, f"{subscriber}'s feed item names {marker!r}"
