"""R3: NHS clinical detail goes only to the MASH health navigator; others get the navigator's
risk summary."""

from __future__ import annotations

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import HEALTH_PATH, RUN, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

CLINICAL = ("detail.clinical_detail", "detail.snomed_codes", "narrative.full_account")


async def test_clinical_detail_reaches_only_the_health_navigator(
    rules_hub: RulesHub, natives: Natives
) -> None:
    bundle = natives.health_alert(natives.child(), setting="ED", cp_plan=True)
    delivery = await rules_hub.send("HEALTH", HEALTH_PATH, bundle)

    navigator = "mash-health-navigator"
    assert f"{RUN}-CLIN".lower() in str(delivery.value(navigator, "detail.clinical_detail")).lower()
    assert delivery.value(navigator, "detail.snomed_codes"), delivery.summary()

    assert delivery.received("mash-manager"), delivery.summary()
    assert delivery.value("mash-manager", "detail.navigator_risk_summary"), (
        "the MASH manager should get the navigator's risk summary instead"
    )
    for subscriber in delivery.recipients - {navigator}:
        shown = delivery.paths(subscriber) & set(CLINICAL)
        assert not shown, f"{subscriber} received clinical detail: {sorted(shown)}"
        assert f"{RUN}-CLIN".lower() not in delivery.text(subscriber), subscriber
