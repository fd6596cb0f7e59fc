"""Issue 15, "tell it once": a child the police report without an NHS number, by a nickname
and at a new address, and whom health report with the NHS number, the formal name and the old
address, is one child in the MASH console with both notices.

Through the real path: native records posted to the police and health adapters over HTTP,
keyed by the child index (probabilistic matching), decided by the gateway, read from the
MASH manager's real feed and projected the way the console projects its feed."""

from __future__ import annotations

import dataclasses

import pytest

from services.console.domain.feed import entry_from_feed_item
from services.console.domain.projection import FeedProjection
from tests.rules.harness import RulesHub
from tests.rules.natives import HEALTH_PATH, POLICE_PATH, Natives

pytestmark = [pytest.mark.kafka, pytest.mark.opa]

MASH = "mash-manager"


async def test_police_and_health_records_of_one_child_are_one_chronology(
    rules_hub: RulesHub, natives: Natives
) -> None:
    child = dataclasses.replace(natives.child(), given_name="Alexander")
    # Health: NHS number, formal name, the address the GP still holds.
    health = natives.health_alert(child, setting="ED")
    # Police: no NHS number, "Alex", and the new address.
    police = natives.police_contact(
        dataclasses.replace(child, given_name="Alex", postcode="ZZ9 9ZZ")
    )
    police["subject"]["nhs_number"] = None

    by_health = await rules_hub.send("HEALTH", HEALTH_PATH, health)
    by_police = await rules_hub.send("POLICE", POLICE_PATH, police)

    projection = FeedProjection(MASH)
    for delivery in (by_health, by_police):
        projection.apply(entry_from_feed_item(delivery.item(MASH)))
    key = by_police.value(MASH, "subject.linkage_key")
    assert by_health.value(MASH, "subject.linkage_key") == key
    chronology = {entry.notice_id for entry in projection.for_child(key)}
    assert chronology == {by_health.notice_id, by_police.notice_id}
    assert list(projection.linkage_keys()) == [key]
