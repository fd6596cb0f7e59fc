"""Who may ask for emergency access, and through which service (issue 18): the IG rules'
`requesting_services`, checked at load against the principals that own signing keys and the
subscribers; `may_sign` binds each service to its own roles and desks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.hubkit.break_glass import BREAK_GLASS_DATA, BreakGlassRules, BreakGlassRulesInvalid
from services.hubkit.topology import (
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    CPIS_REGISTER_SUBSCRIBER,
    load_topology,
)
from tests.factories import POLICIES

TOPOLOGY = load_topology(POLICIES)
DESKS = {s.subscriber_id: s.agency for s in TOPOLOGY.subscribers}
SIGNERS = {CONSOLE_PRINCIPAL, *(a.principal for a in TOPOLOGY.agencies)}


def _data(**services: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((POLICIES / BREAK_GLASS_DATA).read_text())
    if services:
        data["requesting_services"] = services
    return data


def test_the_rules_name_the_console_and_cpis_with_their_own_desks() -> None:
    rules = BreakGlassRules.load(POLICIES)
    assert TOPOLOGY.agency("CPIS").principal == CPIS_PRINCIPAL
    assert rules.requesting_services[CONSOLE_PRINCIPAL].desks == {"mash-manager"}
    assert rules.requesting_services[CPIS_PRINCIPAL].desks == {CPIS_REGISTER_SUBSCRIBER}
    assert rules.may_sign(CONSOLE_PRINCIPAL, "MASH_MANAGER", "mash-manager")
    assert rules.may_sign(CPIS_PRINCIPAL, "UNSCHEDULED_CARE_CLINICIAN", CPIS_REGISTER_SUBSCRIBER)
    # Crossed over, either way round, or an unknown signer: never.
    assert not rules.may_sign(CONSOLE_PRINCIPAL, "MASH_MANAGER", CPIS_REGISTER_SUBSCRIBER)
    assert not rules.may_sign(CPIS_PRINCIPAL, "UNSCHEDULED_CARE_CLINICIAN", "mash-manager")
    assert not rules.may_sign("gateway", "MASH_MANAGER", "mash-manager")
    # Who may ask at all: the union, as the console's offer and the shared refusal use it.
    assert rules.may_request_roles == {"MASH_MANAGER", "UNSCHEDULED_CARE_CLINICIAN"}
    assert rules.may_ask(["SOCIAL_WORKER", "MASH_MANAGER"])
    assert not rules.may_ask(["SOCIAL_WORKER"])


@pytest.mark.parametrize(
    ("services", "words"),
    [
        ({}, "names no service"),
        ({"adapter-nobody": {"roles": ["MASH_MANAGER"], "desks": ["mash-manager"]}}, "owns no key"),
        ({"console": {"roles": ["MASH_MANAGER"], "desks": ["no-such-desk"]}}, "not a subscriber"),
        ({"console": {"roles": [], "desks": ["mash-manager"]}}, "'roles' must be a list"),
        ({"console": {"roles": ["MASH_MANAGER"]}}, "'desks' must be a list"),
        ({"console": ["MASH_MANAGER"]}, "'roles' must be a list"),
    ],
    ids=["empty", "unknown-signer", "unknown-desk", "no-roles", "no-desks", "not-an-object"],
)
def test_rules_that_cannot_be_enforced_are_refused_at_load(
    services: dict[str, Any], words: str
) -> None:
    data = _data()
    data["requesting_services"] = services
    with pytest.raises(BreakGlassRulesInvalid, match=words):
        BreakGlassRules.from_data(data, desks=DESKS, signers=SIGNERS)


def test_rules_without_requesting_services_are_refused() -> None:
    data = {k: v for k, v in _data().items() if k != "requesting_services"}
    with pytest.raises(BreakGlassRulesInvalid, match="'requesting_services' must be a dict"):
        BreakGlassRules.from_data(data)
