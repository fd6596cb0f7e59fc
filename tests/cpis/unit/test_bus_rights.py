"""What the CP-IS lookup may do on the bus comes from the topology (policy data files): it
reads the register's feed as feed-cpis-register and publishes access notifications, emergency
access requests and the audit events of views under a grant as adapter-cpis, and those two
principals can do nothing else (never read what they write)."""

from __future__ import annotations

from services.cpis.settings import CpisSettings
from services.hubkit.topology import Operation, ResourceType, load_topology
from tests.factories import POLICIES

TOPOLOGY = load_topology(POLICIES)


def _grants(principal: str) -> set[tuple[ResourceType, str, Operation, bool]]:
    return {
        (g.resource_type, g.resource_name, g.operation, g.prefixed)
        for g in TOPOLOGY.acl_grants()
        if g.principal == principal
    }


def test_adapter_cpis_writes_notices_emergency_requests_and_views_and_nothing_else() -> None:
    agency = TOPOLOGY.agency("CPIS")
    assert (agency.principal, agency.topic, agency.organisation) == (
        "adapter-cpis",
        "notices.cpis.v1",
        "CPIS-REGISTER",
    )
    assert agency.principal in TOPOLOGY.principals  # a SCRAM credential is provisioned
    assert _grants("adapter-cpis") == {
        (ResourceType.TOPIC, "notices.cpis.v1", Operation.WRITE, False),
        (ResourceType.TOPIC, "notices.cpis.v1", Operation.DESCRIBE, False),
        (ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE, False),
        # Emergency access (issue 18): a clinician's request, and each view under a grant.
        (ResourceType.TOPIC, "breakglass.requests.v1", Operation.WRITE, False),
        (ResourceType.TOPIC, "breakglass.requests.v1", Operation.DESCRIBE, False),
        (ResourceType.TOPIC, "audit.access.v1", Operation.WRITE, False),
        (ResourceType.TOPIC, "audit.access.v1", Operation.DESCRIBE, False),
    }
    assert "notices.cpis.v1" in TOPOLOGY.notice_topics  # the gateway reads it


def test_the_register_reads_its_own_feed_and_nothing_else() -> None:
    register = TOPOLOGY.subscriber(CpisSettings().subscriber_id)
    # The follower uses no consumer group (its position is in the store); the group grant
    # every subscriber gets is simply unused.
    assert _grants(register.principal) == {
        (ResourceType.TOPIC, "feed.cpis-register.v1", Operation.READ, False),
        (ResourceType.TOPIC, "feed.cpis-register.v1", Operation.DESCRIBE, False),
        (ResourceType.GROUP, "safehub-feed-cpis-register", Operation.READ, True),
    }
