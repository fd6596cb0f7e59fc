"""Every agency may need to hear back: the referrer is told the MASH decision (outcome only).
The console names the referring organisations (the sources of the notices a decision
answers); each agency's safeguarding team gets the outcome of decisions that name it, and
nothing of decisions that do not."""

from __future__ import annotations

import pytest

from tests.rules.harness import RulesHub
from tests.rules.mash import RATIONALE, decision_notice, triaged_contact
from tests.rules.natives import Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

TEAMS = {
    "POLICE": ("POL-XX01", "police-safeguarding-team"),
    "HEALTH": ("NHS-RXX00", "health-safeguarding-team"),
}
AGENCY_TEAMS = {"police-safeguarding-team", "health-safeguarding-team", "vcs-safeguarding-lead"}


@pytest.mark.parametrize("referrer", sorted(TEAMS))
async def test_the_referring_agency_is_told_the_outcome_only(
    rules_hub: RulesHub, natives: Natives, referrer: str
) -> None:
    entries, _ = await triaged_contact(rules_hub, natives, referrer=referrer)
    notice = decision_notice(rules_hub, entries, outcome="S17_ASSESSMENT")
    organisation, team = TEAMS[referrer]
    assert notice["detail"]["referring_organisations"] == [organisation]
    delivery = await rules_hub.publish_mash_decision(notice)

    assert delivery.value(team, "detail.outcome") == "S17_ASSESSMENT", delivery.summary()
    detail = {p for p in delivery.paths(team) if p.startswith("detail.")}
    assert detail == {"detail.outcome"}, f"feedback is the outcome only, not {sorted(detail)}"
    assert RATIONALE.lower() not in delivery.text(team)
    for other in AGENCY_TEAMS - {team}:
        assert not delivery.received(other), f"{other} did not refer this child"
