"""R10: the voluntary sector receives identifiers, category of need, agreed actions, safety
instructions (source not named) and the lead professional's contact, and nothing else; never
health detail, police intelligence, referrer or third-party identities. A charity's own
updates go to the MASH, not straight to other charities or an early help worker."""

from __future__ import annotations

import pytest

from tests.rules.harness import EARLY_HELP_WORKER, OUTSIDE_MASH, RulesHub
from tests.rules.natives import POLICE_PATH, VCS_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

RHI = "return-interview-provider"  # VCS-SYN001
NRM_RECIPIENTS = {"mash-manager", "mash-police-researcher", "responsible-la"}


async def test_a_charity_never_learns_the_source_or_the_people_named(
    rules_hub: RulesHub, natives: Natives
) -> None:
    record = natives.police_missing(natives.child(), status="RETURNED")
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received(RHI), delivery.summary()
    paths = delivery.paths(RHI)
    named = paths & {"referrer", "third_parties", "intelligence_grading"}
    assert not named, f"the charity received {sorted(named)}"
    source = sorted(p for p in paths if p.startswith(("source.", "narrative.")))
    assert not source, f"the charity received {source}"
    text = delivery.text(RHI)
    for marker in ("constabulary", "pol-xx01", "synthetic neighbour", "synthetic associate"):
        assert marker not in text, (
            f"the charity's feed item names {marker!r}: contact "
            f"{delivery.item(RHI)['contact_point']}, view {sorted(paths)}"
        )
    assert delivery.item(RHI)["source_agency"] != "POLICE"


@pytest.mark.parametrize("kind", ["ENGAGEMENT", "CONCERN"])
async def test_a_charitys_update_goes_to_the_mash_not_straight_to_early_help(
    rules_hub: RulesHub, natives: Natives, kind: str
) -> None:
    form = natives.vcs_update(natives.child(), kind=kind, risk_level="MEDIUM")
    delivery = await rules_hub.send("VOLUNTARY_SECTOR", VCS_PATH, form)

    assert delivery.received("mash-manager"), delivery.summary()
    assert not delivery.received(EARLY_HELP_WORKER), delivery.summary()
    outside = delivery.recipients & set(OUTSIDE_MASH)
    assert not outside, f"a charity's {kind} update went straight to {sorted(outside)}"


async def test_a_charitys_nrm_referral_is_treated_as_an_nrm(
    rules_hub: RulesHub, natives: Natives
) -> None:
    """The charity is a first responder: its NRM_REFERRAL update is routed as R12 says."""
    form = natives.vcs_update(natives.child(exploitation_flagged=True), kind="NRM_REFERRAL")
    delivery = await rules_hub.send("VOLUNTARY_SECTOR", VCS_PATH, form)

    account = form["exploitation_account"]
    for subscriber in ("mash-manager", "mash-police-researcher"):
        assert delivery.value(subscriber, "detail.exploitation_account") == account, (
            delivery.summary()
        )
    assert delivery.outcome("mash-health-navigator") == "FLAG_ONLY", delivery.summary()
    others = delivery.recipients - NRM_RECIPIENTS - {"mash-health-navigator"}
    assert not others, f"an NRM referral reached {sorted(others)}"
    for subscriber in delivery.recipients - NRM_RECIPIENTS:
        assert account.lower() not in delivery.text(subscriber), subscriber
