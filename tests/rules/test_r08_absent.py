"""R8: an "absent" (no apparent risk) episode is shared as missing when the child is flagged
for exploitation, is looked after, or has repeated episodes (3 or more in 90 days); the MASH
sees it as missing. Any other absent episode is recorded in the MASH only."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import CSC_PATH, HUB_LA, NOW, POLICE_PATH, SSDA903_PATH, Natives

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


REPEATS = {
    # id: (an earlier police episode too, shared with the LA)
    "third-episode-told-by-two-agencies": (True, True),
    "second-episode": (False, False),
}


@pytest.mark.parametrize(("earlier_police", "shared"), REPEATS.values(), ids=REPEATS)
async def test_repeat_absence_counts_episodes_other_agencies_reported(
    rules_hub: RulesHub, natives: Natives, earlier_police: bool, shared: bool
) -> None:
    """Issue 15: this force's own system knows of one episode (this one); children's services
    and an earlier police report told the hub of the others. The child index links the
    records (the children's services records carry no NHS number) and the policy counts
    every episode any agency reported in the 90 days before this one: three is a repeat."""
    child = natives.child()
    # Children's services upload an episode from two days ago, from a placement (SSDA903) ...
    (csc,) = await rules_hub.upload(
        "CHILDRENS_SERVICES",
        SSDA903_PATH,
        natives.ssda903_csv(child),
        contact_role="Children in care team",
        contact_telephone="0300 000 0300",
    )
    # ... and then record that the child has gone home and is no longer looked after, so
    # being looked after does not make this absence "missing" (R8's other clause).
    home = await rules_hub.send("CHILDRENS_SERVICES", CSC_PATH, natives.csc_referral(child))
    keys = {d.value("mash-manager", "subject.linkage_key") for d in (csc, home)}
    if earlier_police:
        # Police reported and closed another episode a month ago.
        record = natives.records.police_missing(
            child,
            status="RETURNED",
            missing_since=NOW - dt.timedelta(days=30),
            found_or_returned_at=NOW - dt.timedelta(days=29, hours=20),
        )
        record["subject"]["responsible_la"] = HUB_LA
        before = await rules_hub.send("POLICE", POLICE_PATH, record)
        keys.add(before.value("mash-manager", "subject.linkage_key"))

    # Now an "absent, no apparent risk" report, the first this force's own system counts.
    record = natives.police_missing(
        child, status="REPORTED", risk_grade="NO_APPARENT_RISK", episodes_last_90_days=1
    )
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)
    keys.add(delivery.value("mash-manager", "subject.linkage_key"))

    assert len(keys) == 1, "the index should have linked every record to one child"
    assert delivery.received("mash-manager"), delivery.summary()
    assert delivery.received("responsible-la") is shared, delivery.summary()
