"""Who reads which feed and how long a session lives (child links: test_links.py)."""

from __future__ import annotations

import datetime as dt

from services.console.domain.people import (
    SessionPolicy,
    person_from_claims,
    session_live,
    subscriber_for,
)
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import load_topology

TOPOLOGY = load_topology(REPO_ROOT / "policies")
ROLES = ("MASH_MANAGER", "HEALTH_NAVIGATOR", "POLICE_RESEARCHER", "SOCIAL_WORKER")


def test_each_console_role_reads_its_subscribers_feed() -> None:
    expected = {
        ("MASH_MANAGER", "LA-E09000099"): "mash-manager",
        ("HEALTH_NAVIGATOR", "NHS-RXX00"): "mash-health-navigator",
        ("POLICE_RESEARCHER", "POL-XX01"): "mash-police-researcher",
        ("SOCIAL_WORKER", "LA-E09000099"): "responsible-la",
    }
    for (role, organisation), subscriber_id in expected.items():
        found = subscriber_for([role], organisation, TOPOLOGY, console_roles=ROLES)
        assert found is not None
        assert found.subscriber_id == subscriber_id


def test_the_role_must_be_in_the_right_organisation_and_served_here() -> None:
    assert subscriber_for(["MASH_MANAGER"], "NHS-RXX00", TOPOLOGY, console_roles=ROLES) is None
    assert subscriber_for(["IG_OFFICER"], "LA-E09000099", TOPOLOGY, console_roles=ROLES) is None
    assert (
        subscriber_for(
            ["DESIGNATED_SAFEGUARDING_LEAD"], "URN-999999", TOPOLOGY, console_roles=ROLES
        )
        is None
    )


def test_claims_become_a_person() -> None:
    person = person_from_claims(
        {"sub": "u1", "name": "Morgan", "roles": ["MASH_MANAGER"], "organisation": "LA-E09000099"},
        TOPOLOGY,
        console_roles=ROLES,
    )
    assert (person.subscriber_id, person.role_text) == ("mash-manager", "MASH manager")
    ig = person_from_claims(
        {"sub": "u5", "roles": ["IG_OFFICER"], "organisation": "LA-E09000099"},
        TOPOLOGY,
        console_roles=ROLES,
    )
    assert ig.subscriber_id is None


def test_sessions_expire_when_idle_and_after_a_shift() -> None:
    policy = SessionPolicy(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=10))
    assert session_live(created_at=0, last_seen=0, now=29 * 60, policy=policy)
    assert not session_live(created_at=0, last_seen=0, now=30 * 60, policy=policy)
    busy_all_day = 10 * 3600
    assert not session_live(
        created_at=0, last_seen=busy_all_day - 1, now=busy_all_day, policy=policy
    )
