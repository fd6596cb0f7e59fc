"""The console principal's rights: it may append access events to the audit log, and nothing more:
never a decision (issue 13, defect 4)."""

from __future__ import annotations

from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import (
    AUDIT_ACCESS_TOPIC,
    AUDIT_TOPIC,
    CONSOLE_PRINCIPAL,
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


def test_console_may_only_write_the_access_topic() -> None:
    assert _console_grants() == {
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.WRITE),
        AclGrant(CONSOLE_PRINCIPAL, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.DESCRIBE),
        AclGrant(
            CONSOLE_PRINCIPAL, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE
        ),
    }


def test_console_reads_nothing_and_joins_no_group() -> None:
    grants = _console_grants()
    assert not [g for g in grants if g.operation is Operation.READ]
    assert not [g for g in grants if g.resource_type is ResourceType.GROUP]
    assert not [g for g in grants if g.resource_type is ResourceType.TRANSACTIONAL_ID]
    assert not [g for g in grants if g.prefixed or g.resource_name == "*"]


def test_console_cannot_touch_the_decisions_topic() -> None:
    assert not [g for g in _console_grants() if g.resource_name == AUDIT_TOPIC]
