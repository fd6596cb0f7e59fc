"""The console principal's rights: it may append access events to the audit log and read the
child index's linkage changes (merged chronologies, issue 15), and write emergency access requests
(issue 18), and nothing more: never a
decision (issue 13, defect 4), never a feed or a notice. And the child index's: it announces
linkage changes and does nothing else on the bus."""

from __future__ import annotations

from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_TOPIC,
    BREAK_GLASS_TOPIC,
    CHILDINDEX_PRINCIPAL,
    CONSOLE_PRINCIPAL,
    CPIS_PRINCIPAL,
    LINKAGE_TOPIC,
    AclGrant,
    Operation,
    ResourceType,
    load_topology,
)

TOPOLOGY = load_topology(REPO_ROOT / "policies")


def _console_grants() -> set[AclGrant]:
    return {g for g in TOPOLOGY.acl_grants() if g.principal == CONSOLE_PRINCIPAL}


def test_console_is_a_principal_the_stack_provisions() -> None:
    assert CONSOLE_PRINCIPAL in TOPOLOGY.principals


def test_console_may_only_write_access_events_and_break_glass_requests_and_read_linkage() -> None:
    assert _console_grants() == {
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.WRITE),
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.DESCRIBE),
        # A person's request for emergency access (issue 18), answered by the gateway.
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, BREAK_GLASS_TOPIC, Operation.WRITE),
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, BREAK_GLASS_TOPIC, Operation.DESCRIBE),
        AclGrant(
            CONSOLE_PRINCIPAL, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE
        ),
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.READ),
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.DESCRIBE),
    }


def test_console_reads_only_linkage_changes_and_joins_only_its_group() -> None:
    grants = _console_grants()
    assert {g.resource_name for g in grants if g.operation is Operation.READ} == {
        LINKAGE_TOPIC,
    }
    assert not [g for g in grants if g.resource_type is ResourceType.TRANSACTIONAL_ID]
    assert not [g for g in grants if g.prefixed or g.resource_name == "*"]


def test_the_child_index_only_announces_linkage_changes() -> None:
    grants = {g for g in TOPOLOGY.acl_grants() if g.principal == CHILDINDEX_PRINCIPAL}
    assert CHILDINDEX_PRINCIPAL in TOPOLOGY.principals
    assert grants == {
        AclGrant(CHILDINDEX_PRINCIPAL, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.WRITE),
        AclGrant(CHILDINDEX_PRINCIPAL, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.DESCRIBE),
        AclGrant(
            CHILDINDEX_PRINCIPAL, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE
        ),
    }


def test_console_cannot_touch_the_decisions_topic() -> None:
    assert not [g for g in _console_grants() if g.resource_name == AUDIT_TOPIC]


def test_only_the_console_and_cpis_write_requests_and_access_events_never_read_them() -> None:
    """Issue 18: CP-IS asks for a clinician's emergency access and logs each view under a
    grant, beside the console; no other agency's principal may do either, and neither
    reads what it wrote (the gateway reads the requests, the audit service the events)."""
    for topic in (BREAK_GLASS_TOPIC, AUDIT_ACCESS_TOPIC):
        writers = {
            g.principal
            for g in TOPOLOGY.acl_grants()
            if g.resource_type is ResourceType.TOPIC
            and g.resource_name == topic
            and g.operation is Operation.WRITE
        }
        assert writers == {CONSOLE_PRINCIPAL, CPIS_PRINCIPAL}, topic
        readers = {
            g.principal
            for g in TOPOLOGY.acl_grants()
            if g.resource_type is ResourceType.TOPIC
            and g.resource_name == topic
            and g.operation is Operation.READ
        }
        assert not readers & {CONSOLE_PRINCIPAL, CPIS_PRINCIPAL}, topic
    assert TOPOLOGY.agency("CPIS").principal == CPIS_PRINCIPAL
