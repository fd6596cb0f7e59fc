"""Who may talk to whom on the bus: topics, principals and least-privilege ACL grants.

One source of truth. The stack runner applies these grants to the broker; services use the
topic names. Agencies and subscribers come from the policy bundle's data files, so an IG
officer who adds a subscriber there also gets its feed topic and credential.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = [
    "AUDIT_ACCESS_TOPIC",
    "AUDIT_CHECKPOINT_TOPIC",
    "AUDIT_TOPIC",
    "BREAK_GLASS_GROUP",
    "BREAK_GLASS_TOPIC",
    "CHILDINDEX_PRINCIPAL",
    "CONSOLE_PRINCIPAL",
    "CPIS_PRINCIPAL",
    "CPIS_REGISTER_SUBSCRIBER",
    "DEADLETTER_TOPIC",
    "KEYED_TOPIC_PARTITIONS",
    "LINKAGE_TOPIC",
    "NOTICES_SEEN_TOPIC",
    "SINGLE_PARTITION_TOPICS",
    "AclGrant",
    "AgencyEntry",
    "Operation",
    "ResourceType",
    "SubscriberEntry",
    "Topology",
    "load_topology",
]

AUDIT_TOPIC = "audit.decisions.v1"
# Access events from the MASH console (refusals), signed with the console's key, and CP-IS's
# views under emergency access, signed with its key. A topic of their own, apart from the
# gateway's decisions: neither can ever write a decision.
AUDIT_ACCESS_TOPIC = "audit.access.v1"
AUDIT_CHECKPOINT_TOPIC = "audit.checkpoints.v1"
DEADLETTER_TOPIC = "gateway.deadletter.v1"
# Every notice the gateway has decided (safehub.gateway.NoticeSeen, keyed by notice id),
# written in the decision's own transaction and read back before a partition is decided on,
# so a replayed notice is refused after a restart and on any replica. Compacted: one record
# per notice id is kept for good (about 200 bytes each).
NOTICES_SEEN_TOPIC = "gateway.notices-seen.v1"
# Merges and splits of children (safehub.childindex.LinkageChanged), written by the child
# index alone and read by the console (chronologies) and the audit service (subject access
# over every key a child had). One partition: one total order of merges and splits.
LINKAGE_TOPIC = "childindex.linkage.v1"
# Requests for emergency access to withheld content (safehub.breakglass.BreakGlassRequest,
# issue 18), signed by a requesting service's key (the console's, CP-IS's: the IG rules'
# requesting_services); the gateway alone reads them (its own consumer
# group) and answers on the requester's feed. One partition: requests are few.
BREAK_GLASS_TOPIC = "breakglass.requests.v1"
ADMIN_PRINCIPAL = "admin"
GATEWAY_PRINCIPAL = "gateway"
AUDIT_PRINCIPAL = "audit"
# The MASH console writes its access events (a person asked for something outside their feed)
# to AUDIT_ACCESS_TOPIC and nothing else. It reads feeds as each feed's own principal, and
# publishes decisions as adapter-mash, so this principal needs no read rights at all. It is
# also the owner of the console's signing key, the only key the audit log accepts on that topic.
CONSOLE_PRINCIPAL = "console"
# The child index owns identity resolution; on the bus it only announces linkage changes.
CHILDINDEX_PRINCIPAL = "childindex"
# The CP-IS lookup's agency principal (policies/safehub/agencies/data.json, agency CPIS) and
# the register's desk. Beside its access notifications, CP-IS asks for emergency access for a
# clinician at presentation (issue 18: breakglass.requests.v1) and logs every view under a
# grant (audit.access.v1, signed with its key: services/hubkit/audit_trail.py accepts only
# such views from it).
CPIS_PRINCIPAL = "adapter-cpis"
CPIS_REGISTER_SUBSCRIBER = "cpis-register"
GATEWAY_GROUP = "safehub-gateway"
AUDIT_GROUP = "safehub-audit"
BREAK_GLASS_GROUP = "safehub-gateway-break-glass"
# The gateway's transactional ids start with this prefix (one stable id per input partition).
GATEWAY_TRANSACTIONAL_PREFIX = "safehub-gateway-"
# Partition counts, in one place. Notice and feed topics are keyed by the child's linkage key,
# so a few partitions spread the load while one child's notices stay in order; the audit log,
# its checkpoints and the dead-letter topic keep one partition so each has a single total order.
KEYED_TOPIC_PARTITIONS = 3
SINGLE_PARTITION_TOPICS = frozenset(
    {
        AUDIT_TOPIC,
        AUDIT_ACCESS_TOPIC,
        AUDIT_CHECKPOINT_TOPIC,
        DEADLETTER_TOPIC,
        NOTICES_SEEN_TOPIC,
        LINKAGE_TOPIC,
        BREAK_GLASS_TOPIC,
    }
)
# Topic settings other than the broker defaults, by topic.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {NOTICES_SEEN_TOPIC: {"cleanup.policy": "compact"}}


class ResourceType(StrEnum):
    TOPIC = "topic"
    GROUP = "group"
    TRANSACTIONAL_ID = "transactional-id"
    CLUSTER = "cluster"


class Operation(StrEnum):
    READ = "Read"
    WRITE = "Write"
    DESCRIBE = "Describe"
    CREATE = "Create"
    IDEMPOTENT_WRITE = "IdempotentWrite"
    ALL = "All"


@dataclass(frozen=True, slots=True)
class AclGrant:
    """Allow `principal` to perform `operation` on a resource (a literal name or a prefix)."""

    principal: str
    resource_type: ResourceType
    resource_name: str
    operation: Operation
    prefixed: bool = False


@dataclass(frozen=True, slots=True)
class AgencyEntry:
    code: str
    name: str
    organisation: str
    topic: str
    principal: str


@dataclass(frozen=True, slots=True)
class SubscriberEntry:
    subscriber_id: str
    agency: str
    organisation: str
    role: str
    team: str
    inside_mash: bool
    purposes: tuple[str, ...]
    contact: str

    @property
    def feed_topic(self) -> str:
        return f"feed.{self.subscriber_id}.v1"

    @property
    def principal(self) -> str:
        return f"feed-{self.subscriber_id}"

    @property
    def consumer_group(self) -> str:
        return f"safehub-feed-{self.subscriber_id}"


@dataclass(frozen=True, slots=True)
class Topology:
    agencies: tuple[AgencyEntry, ...]
    subscribers: tuple[SubscriberEntry, ...]

    @property
    def notice_topics(self) -> tuple[str, ...]:
        return tuple(a.topic for a in self.agencies)

    @property
    def all_topics(self) -> tuple[str, ...]:
        return (
            *self.notice_topics,
            *(s.feed_topic for s in self.subscribers),
            AUDIT_TOPIC,
            AUDIT_ACCESS_TOPIC,
            AUDIT_CHECKPOINT_TOPIC,
            DEADLETTER_TOPIC,
            NOTICES_SEEN_TOPIC,
            LINKAGE_TOPIC,
            BREAK_GLASS_TOPIC,
        )

    def partitions(self, topic: str) -> int:
        """How many partitions `topic` is created with (one replica on the local broker)."""
        if topic in SINGLE_PARTITION_TOPICS:
            return 1
        if topic in self.all_topics:
            return KEYED_TOPIC_PARTITIONS
        raise KeyError(f"unknown topic {topic!r}; topics come from the policy bundle's data files")

    def config(self, topic: str) -> dict[str, str]:
        """Settings `topic` is created with beyond the broker's defaults (e.g. compaction)."""
        if topic not in self.all_topics:
            raise KeyError(f"unknown topic {topic!r}")
        return dict(TOPIC_CONFIGS.get(topic, {}))

    @property
    def principals(self) -> tuple[str, ...]:
        return (
            ADMIN_PRINCIPAL,
            GATEWAY_PRINCIPAL,
            AUDIT_PRINCIPAL,
            CONSOLE_PRINCIPAL,
            CHILDINDEX_PRINCIPAL,
            *(a.principal for a in self.agencies),
            *(s.principal for s in self.subscribers),
        )

    def agency(self, code: str) -> AgencyEntry:
        for entry in self.agencies:
            if entry.code == code:
                return entry
        raise KeyError(f"unknown agency {code!r}; add it to policies/safehub/agencies/data.json")

    def subscriber(self, subscriber_id: str) -> SubscriberEntry:
        for entry in self.subscribers:
            if entry.subscriber_id == subscriber_id:
                return entry
        raise KeyError(
            f"unknown subscriber {subscriber_id!r}; add it to "
            "policies/safehub/subscribers/data.json"
        )

    def acl_grants(self) -> tuple[AclGrant, ...]:
        """Least privilege: each principal gets exactly what its service does, nothing more."""
        grants: list[AclGrant] = [
            AclGrant(ADMIN_PRINCIPAL, ResourceType.CLUSTER, "kafka-cluster", Operation.ALL),
            AclGrant(ADMIN_PRINCIPAL, ResourceType.TOPIC, "*", Operation.ALL),
            AclGrant(ADMIN_PRINCIPAL, ResourceType.GROUP, "*", Operation.ALL),
            AclGrant(ADMIN_PRINCIPAL, ResourceType.TRANSACTIONAL_ID, "*", Operation.ALL),
        ]
        for agency in self.agencies:
            # An adapter writes its own agency's topic and nothing else.
            grants += [
                AclGrant(agency.principal, ResourceType.TOPIC, agency.topic, Operation.WRITE),
                AclGrant(agency.principal, ResourceType.TOPIC, agency.topic, Operation.DESCRIBE),
                AclGrant(
                    agency.principal,
                    ResourceType.CLUSTER,
                    "kafka-cluster",
                    Operation.IDEMPOTENT_WRITE,
                ),
            ]
        gw = GATEWAY_PRINCIPAL
        grants += [
            AclGrant(gw, ResourceType.GROUP, GATEWAY_GROUP, Operation.READ),
            AclGrant(
                gw,
                ResourceType.TRANSACTIONAL_ID,
                GATEWAY_TRANSACTIONAL_PREFIX,
                Operation.WRITE,
                prefixed=True,
            ),
            AclGrant(
                gw,
                ResourceType.TRANSACTIONAL_ID,
                GATEWAY_TRANSACTIONAL_PREFIX,
                Operation.DESCRIBE,
                prefixed=True,
            ),
            AclGrant(gw, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE),
        ]
        for topic in self.notice_topics:
            grants += [
                AclGrant(gw, ResourceType.TOPIC, topic, Operation.READ),
                AclGrant(gw, ResourceType.TOPIC, topic, Operation.DESCRIBE),
            ]
        for topic in (AUDIT_TOPIC, DEADLETTER_TOPIC, *(s.feed_topic for s in self.subscribers)):
            grants += [
                AclGrant(gw, ResourceType.TOPIC, topic, Operation.WRITE),
                AclGrant(gw, ResourceType.TOPIC, topic, Operation.DESCRIBE),
            ]
        # Its record of decided notices: written with each decision, read back (no group)
        # before a partition is decided on.
        grants += [
            AclGrant(gw, ResourceType.TOPIC, NOTICES_SEEN_TOPIC, operation)
            for operation in (Operation.READ, Operation.WRITE, Operation.DESCRIBE)
        ]
        # Emergency access requests (issue 18): read in their own group.
        grants += [
            AclGrant(gw, ResourceType.TOPIC, BREAK_GLASS_TOPIC, Operation.READ),
            AclGrant(gw, ResourceType.TOPIC, BREAK_GLASS_TOPIC, Operation.DESCRIBE),
            AclGrant(gw, ResourceType.GROUP, BREAK_GLASS_GROUP, Operation.READ),
        ]
        au = AUDIT_PRINCIPAL
        grants += [
            AclGrant(au, ResourceType.TOPIC, AUDIT_TOPIC, Operation.READ),
            AclGrant(au, ResourceType.TOPIC, AUDIT_TOPIC, Operation.DESCRIBE),
            AclGrant(au, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.READ),
            AclGrant(au, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.DESCRIBE),
            AclGrant(au, ResourceType.TOPIC, AUDIT_CHECKPOINT_TOPIC, Operation.WRITE),
            AclGrant(au, ResourceType.TOPIC, AUDIT_CHECKPOINT_TOPIC, Operation.DESCRIBE),
            AclGrant(au, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.READ),
            AclGrant(au, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.DESCRIBE),
            AclGrant(au, ResourceType.GROUP, AUDIT_GROUP, Operation.READ),
            AclGrant(au, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE),
        ]
        co = CONSOLE_PRINCIPAL
        grants += [
            # Write-only on its access topic: the console can add an access event to the log
            # but cannot read the log, nor write decisions (audit.decisions.v1), feeds,
            # notices or the dead-letter topic.
            AclGrant(co, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.WRITE),
            AclGrant(co, ResourceType.TOPIC, AUDIT_ACCESS_TOPIC, Operation.DESCRIBE),
            # A person's request for emergency access (issue 18): written, never read back.
            AclGrant(co, ResourceType.TOPIC, BREAK_GLASS_TOPIC, Operation.WRITE),
            AclGrant(co, ResourceType.TOPIC, BREAK_GLASS_TOPIC, Operation.DESCRIBE),
            AclGrant(co, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE),
            # Linkage changes, to show merged children as one chronology (read from the
            # start without a consumer group, like a feed).
            AclGrant(co, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.READ),
            AclGrant(co, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.DESCRIBE),
        ]
        if any(a.principal == CPIS_PRINCIPAL for a in self.agencies):
            grants += [
                # CP-IS asks for a clinician's emergency access, and logs each view under a
                # grant before it is shown (issue 18): written, never read back.
                AclGrant(CPIS_PRINCIPAL, ResourceType.TOPIC, topic, operation)
                for topic in (BREAK_GLASS_TOPIC, AUDIT_ACCESS_TOPIC)
                for operation in (Operation.WRITE, Operation.DESCRIBE)
            ]
        ci = CHILDINDEX_PRINCIPAL
        grants += [
            # The child index announces merges and splits and does nothing else on the bus.
            AclGrant(ci, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.WRITE),
            AclGrant(ci, ResourceType.TOPIC, LINKAGE_TOPIC, Operation.DESCRIBE),
            AclGrant(ci, ResourceType.CLUSTER, "kafka-cluster", Operation.IDEMPOTENT_WRITE),
        ]
        for sub in self.subscribers:
            # A feed consumer reads its own feed, in groups named after it, and nothing else.
            grants += [
                AclGrant(sub.principal, ResourceType.TOPIC, sub.feed_topic, Operation.READ),
                AclGrant(sub.principal, ResourceType.TOPIC, sub.feed_topic, Operation.DESCRIBE),
                AclGrant(
                    sub.principal,
                    ResourceType.GROUP,
                    sub.consumer_group,
                    Operation.READ,
                    prefixed=True,
                ),
            ]
        return tuple(grants)


def load_topology(policies_dir: Path) -> Topology:
    """Read agencies and subscribers from the policy bundle's data files."""
    agencies_raw = json.loads((policies_dir / "safehub/agencies/data.json").read_text())
    subscribers_raw = json.loads((policies_dir / "safehub/subscribers/data.json").read_text())
    agencies = tuple(
        AgencyEntry(
            code=code,
            name=a["name"],
            organisation=a["organisation"],
            topic=a["topic"],
            principal=a["principal"],
        )
        for code, a in sorted(agencies_raw.items())
    )
    subscribers = tuple(
        SubscriberEntry(
            subscriber_id=sid,
            agency=s["agency"],
            organisation=s["organisation"],
            role=s["role"],
            team=s["team"],
            inside_mash=bool(s["inside_mash"]),
            purposes=tuple(s["purposes"]),
            contact=s["contact"],
        )
        for sid, s in sorted(subscribers_raw.items())
    )
    return Topology(agencies=agencies, subscribers=subscribers)
