"""Immediate danger is acted on now: it goes to the out-of-hours emergency duty team when the
MASH is closed (opening hours are policy data); while the MASH is open it does not."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.rules.harness import RulesHub
from tests.rules.natives import POLICE_PATH, UK, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

EDT = "emergency-duty-team"
SUNDAY_3AM = dt.datetime(2026, 11, 22, 3, 0, tzinfo=UK)  # the MASH is closed
WEDNESDAY_11AM = dt.datetime(2026, 11, 18, 11, 0, tzinfo=UK)  # the MASH is open


@pytest.mark.parametrize(
    ("created", "edt_told"), [(SUNDAY_3AM, True), (WEDNESDAY_11AM, False)], ids=["closed", "open"]
)
async def test_immediate_danger_goes_to_the_emergency_duty_team_when_the_mash_is_closed(
    rules_hub: RulesHub, natives: Natives, created: dt.datetime, edt_told: bool
) -> None:
    record = natives.police_contact(natives.child(), at=created.astimezone(dt.UTC))
    record["risk"] = {"level": "HIGH", "immediate_danger": True}
    delivery = await rules_hub.send("POLICE", POLICE_PATH, record)

    assert delivery.received("mash-manager"), delivery.summary()
    assert delivery.received(EDT) is edt_told, delivery.summary()
    if edt_told:
        assert delivery.value(EDT, "risk.immediate_danger") is True
        shown = delivery.paths(EDT) & {"referrer", "third_parties", "narrative.full_account"}
        assert not shown, f"the emergency duty team is outside the MASH, yet received {shown}"
