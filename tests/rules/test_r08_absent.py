"""R8: an "absent" (no apparent risk) episode is shared as missing when the child is flagged
for exploitation, is looked after, or has repeated episodes (3 or more in 90 days); the MASH
sees it as missing. Any other absent episode is recorded in the MASH only."""

from __future__ import annotations

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

CASES = {
    # id: (exploitation_flagged, looked_after, episodes_last_90_days, shared with the LA)
    "exploitation-flagged": (True, False, 1, True),
    "looked-after": (False, True, 1, True),
    "third-episode-in-90-days": (False, False, 3, True),
    "none-of-those": (False, False, 1, False),
}


@pytest.mark.parametrize(("flagged", "lac", "episodes", "shared"), CASES.values(), ids=CASES)
async def test_an_absent_episode_of_a_child_at_risk_is_shared_as_missing(
    rules_hub: RulesHub,
    natives: Natives,
    flagged: bool,
    lac: bool,
    episodes: int,
    shared: bool,
) -> None:
    child = natives.child(exploitation_flagged=flagged, looked_after=lac)
    record = natives.police_missing(
        child, status="REPORTED", risk_grade="NO_APPARENT_RISK", episodes_last_90_days=episodes
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received("mash-manager"), delivery.summary()
    assert delivery.received("responsible-la") is shared, delivery.summary()
