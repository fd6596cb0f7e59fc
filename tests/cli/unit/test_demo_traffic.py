"""The demo's synthetic traffic: records every adapter accepts, some about the same child
(services/synthetic/traffic.py has the population-level properties' tests)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from typing import Any

from services.adapters.childrens_services.mapping import map_csc_nrm_referral
from services.adapters.childrens_services.models import CscNrmReferral
from services.adapters.health.validation import fhir_errors
from services.adapters.ingest.mapping import Notice
from services.adapters.police.mapping import map_police_nrm_referral
from services.adapters.police.models import PoliceNrmReferral
from services.cli.demo import TrafficPlan, adapter_path
from services.hubkit.linkage import ChildIdentifiers, ChildKeys
from tests.adapters.helpers import MAPPERS, context, parse

NOW = dt.datetime(2026, 11, 18, 10, tzinfo=dt.UTC)


class _IndexKeys(ChildKeys):
    """Keys as a fake index would: one key per distinct identifiers; never refuses (the
    index decides, and the demo's records all hold names and a date of birth or more)."""

    def key(self, identifiers: ChildIdentifiers) -> str:
        return hashlib.sha256(repr(identifiers).encode()).hexdigest()


def _map(agency: str, document: dict[str, Any]) -> Notice:
    """What the adapter the demo posts to would publish."""
    ctx = dataclasses.replace(context(agency), child_keys=_IndexKeys())
    path = adapter_path(agency, document)
    if path == "/v1/nrm-referrals" and agency == "POLICE":
        return map_police_nrm_referral(PoliceNrmReferral.model_validate(document), ctx).notice
    if path == "/v1/nrm-referrals":
        return map_csc_nrm_referral(CscNrmReferral.model_validate(document), ctx).notice
    if agency == "HEALTH":
        assert fhir_errors(document) == []
    return MAPPERS[agency](parse(agency, document), ctx).notice


def test_the_plan_sends_valid_native_records_from_every_agency_and_links_children() -> None:
    plan = TrafficPlan(seed=7, now=NOW)
    sent = [plan.next() for _ in range(200)]
    assert {agency for agency, _ in sent} == {
        "POLICE",
        "HEALTH",
        "CHILDRENS_SERVICES",
        "VOLUNTARY_SECTOR",
    }
    notices = [_map(agency, document) for agency, document in sent]
    # Chronologies grow: some children come back with the very same identifiers (the rest
    # differ as each agency holds them: the child index's work).
    keys = [n["subject"]["linkage_key"] for n in notices]
    assert len(set(keys)) < len(keys)


def test_the_plan_is_repeatable_for_a_seed() -> None:
    first, second = TrafficPlan(seed=3, now=NOW), TrafficPlan(seed=3, now=NOW)
    assert [first.next() for _ in range(10)] == [second.next() for _ in range(10)]


def test_nrm_referrals_of_police_and_childrens_services_go_to_their_own_route() -> None:
    assert adapter_path("POLICE", {"occurrence_reference": "X"}) == "/v1/nrm-referrals"
    assert adapter_path("POLICE", {"record_type": "DASH_INCIDENT"}) == "/v1/occurrences"
    assert adapter_path("CHILDRENS_SERVICES", {"record_id": "C"}) == "/v1/nrm-referrals"
    assert adapter_path("VOLUNTARY_SECTOR", {"kind": "NRM_REFERRAL"}) == "/v1/updates"
    assert adapter_path("HEALTH", {"resourceType": "Bundle"}) == "/v1/fhir/Bundle"
