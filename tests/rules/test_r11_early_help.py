"""R11: routing to early help requires recorded family agreement; s47 and immediate
protection do not."""

from __future__ import annotations

import pytest

from tests.rules.harness import EARLY_HELP_WORKER, OUTSIDE_MASH, RulesHub
from tests.rules.mash import decision_notice, triaged_contact
from tests.rules.natives import Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

EARLY_HELP_ORG = "VCS-SYN001"  # the test-only early help worker's organisation
REFERRER_TEAM = "police-safeguarding-team"  # the contact came from POL-XX01


@pytest.mark.parametrize("named", [None, EARLY_HELP_ORG], ids=["as-console-sends", "org-named"])
async def test_early_help_without_the_familys_agreement_leaves_nothing_outside_the_mash(
    rules_hub: RulesHub, natives: Natives, named: str | None
) -> None:
    entries, _ = await triaged_contact(rules_hub, natives)
    notice = decision_notice(
        rules_hub,
        entries,
        outcome="EARLY_HELP",
        family_agreement=False,
        early_help_organisation=named,
    )
    delivery = await rules_hub.publish_mash_decision(notice)

    assert delivery.received("mash-manager"), delivery.summary()
    # The referring force may hear the outcome (referrer feedback); nobody else outside.
    outside = (delivery.recipients & set(OUTSIDE_MASH)) - {REFERRER_TEAM}
    assert not outside, f"early help without agreement reached {sorted(outside)}"
    if delivery.received(REFERRER_TEAM):
        detail = {p for p in delivery.paths(REFERRER_TEAM) if p.startswith("detail.")}
        assert detail <= {"detail.outcome"}, f"the referrer got {sorted(detail)}"


async def test_early_help_with_the_familys_agreement_reaches_the_named_lead_professional(
    rules_hub: RulesHub, natives: Natives
) -> None:
    entries, _ = await triaged_contact(rules_hub, natives)
    notice = decision_notice(
        rules_hub,
        entries,
        outcome="EARLY_HELP",
        family_agreement=True,
        early_help_organisation=EARLY_HELP_ORG,
    )
    delivery = await rules_hub.publish_mash_decision(notice)

    assert delivery.value(EARLY_HELP_WORKER, "detail.agreed_actions"), delivery.summary()
    assert delivery.value(EARLY_HELP_WORKER, "detail.rationale") is None


@pytest.mark.parametrize("outcome", ["S47_STRATEGY_DISCUSSION", "IMMEDIATE_PROTECTION"])
async def test_s47_and_immediate_protection_go_to_the_la_without_agreement(
    rules_hub: RulesHub, natives: Natives, outcome: str
) -> None:
    entries, _ = await triaged_contact(rules_hub, natives)
    notice = decision_notice(rules_hub, entries, outcome=outcome, family_agreement=False)
    delivery = await rules_hub.publish_mash_decision(notice)

    assert delivery.value("responsible-la", "detail.outcome") == outcome, delivery.summary()
    assert not delivery.received(EARLY_HELP_WORKER)
