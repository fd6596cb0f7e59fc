"""The demo's synthetic traffic: records every adapter accepts, some about the same child."""

from __future__ import annotations

import datetime as dt

from services.cli.demo import TrafficPlan
from tests.adapters.helpers import map_native


def test_the_plan_sends_valid_native_records_from_every_agency_and_links_children() -> None:
    plan = TrafficPlan(seed=7, now=dt.datetime(2026, 11, 18, 10, tzinfo=dt.UTC))
    sent = [plan.next() for _ in range(60)]
    assert {agency for agency, _ in sent} == {
        "POLICE",
        "HEALTH",
        "CHILDRENS_SERVICES",
        "VOLUNTARY_SECTOR",
    }
    keys = [map_native(agency, document)["subject"]["linkage_key"] for agency, document in sent]
    assert len(set(keys)) < len(keys)  # chronologies grow: some children are seen again


def test_the_plan_is_repeatable_for_a_seed() -> None:
    now = dt.datetime(2026, 11, 18, 10, tzinfo=dt.UTC)
    first, second = TrafficPlan(seed=3, now=now), TrafficPlan(seed=3, now=now)
    assert [first.next() for _ in range(10)] == [second.next() for _ in range(10)]
