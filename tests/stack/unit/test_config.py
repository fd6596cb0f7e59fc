"""The stack's pure configuration: broker security settings and least-privilege ACLs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.hubkit.retention import RETENTION_FILE, RetentionRules, TopicKind
from services.hubkit.settings import REPO_ROOT
from services.hubkit.topology import (
    AclGrant,
    AgencyEntry,
    Operation,
    ResourceType,
    SubscriberEntry,
    Topology,
    load_topology,
)
from services.stack import config
from services.stack.config import AclBatch, Endpoint, KafkaServerConfig
from services.stack.errors import StackConfigError

BROKER_PW = "broker-secret-0123456789"
CONTROLLER_PW = "controller-secret-0123456789"
BOOTSTRAP = Endpoint("127.0.0.1", 19092)
COMMAND_CONFIG = Path("/state/kafka/broker-client.properties")


def _agency(code: str, slug: str) -> AgencyEntry:
    return AgencyEntry(
        code, f"Synthetic {code}", f"ORG-{code}", f"notices.{slug}.v1", f"adapter-{slug}"
    )


def _subscriber(subscriber_id: str) -> SubscriberEntry:
    return SubscriberEntry(
        subscriber_id=subscriber_id,
        agency="HEALTH",
        organisation="ORG-HEALTH",
        role="SYNTHETIC_ROLE",
        team="MASH",
        inside_mash=True,
        purposes=("SAFEGUARDING_TRIAGE",),
        contact="synthetic contact",
    )


# The IG-owned rules as they ship: the rendering is checked against what the file says.
RETENTION = RetentionRules.load(REPO_ROOT / "policies")


@pytest.fixture
def topology() -> Topology:
    """A fixed synthetic topology, so these tests do not move when the bundle data does."""
    return Topology(
        agencies=(_agency("POLICE", "police"), _agency("HEALTH", "health")),
        subscribers=(_subscriber("mash-manager"), _subscriber("school-dsl")),
    )


def _properties(text: str) -> dict[str, str]:
    entries = (line.partition("=") for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, _, value in entries}


@pytest.fixture
def server_properties() -> dict[str, str]:
    text = config.render_server_properties(
        KafkaServerConfig(
            client=BOOTSTRAP,
            controller_port=19093,
            log_dir=Path("/state/kafka/data"),
            broker_password=BROKER_PW,
            controller_password=CONTROLLER_PW,
        )
    )
    return _properties(text)


# --- server.properties ---------------------------------------------------------------------


def test_single_node_kraft_combined_mode(server_properties: dict[str, str]) -> None:
    assert server_properties["process.roles"] == "broker,controller"
    assert server_properties["node.id"] == "1"
    assert server_properties["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert server_properties["log.dirs"] == "/state/kafka/data"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
    ):
        assert server_properties[key] == "1"
    assert server_properties["group.initial.rebalance.delay.ms"] == "0"
    assert server_properties["auto.create.topics.enable"] == "false"


def test_every_listener_is_sasl_on_loopback(server_properties: dict[str, str]) -> None:
    assert server_properties["listeners"] == (
        "CLIENT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    )
    assert server_properties["advertised.listeners"] == "CLIENT://127.0.0.1:19092"
    protocols = dict(
        pair.split(":") for pair in server_properties["listener.security.protocol.map"].split(",")
    )
    assert protocols == {"CLIENT": "SASL_PLAINTEXT", "CONTROLLER": "SASL_PLAINTEXT"}
    assert server_properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-256"
    assert server_properties["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-256"
    assert server_properties["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-256"
    assert server_properties["inter.broker.listener.name"] == "CLIENT"
    # KRaft controllers cannot use SCRAM: the controller listener is PLAIN with a static user.
    assert server_properties["listener.name.controller.sasl.enabled.mechanisms"] == "PLAIN"
    assert server_properties["sasl.mechanism.controller.protocol"] == "PLAIN"


def test_authorizer_denies_by_default_and_only_infrastructure_is_super(
    server_properties: dict[str, str],
) -> None:
    assert server_properties["authorizer.class.name"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert server_properties["allow.everyone.if.no.acl.found"] == "false"
    assert server_properties["super.users"] == "User:broker;User:controller"


def test_jaas_entries_carry_the_internal_users(server_properties: dict[str, str]) -> None:
    scram = server_properties["listener.name.client.scram-sha-256.sasl.jaas.config"]
    assert "ScramLoginModule required" in scram
    assert f'username="broker" password="{BROKER_PW}";' in scram
    plain = server_properties["listener.name.controller.plain.sasl.jaas.config"]
    assert "PlainLoginModule required" in plain
    assert f'username="controller" password="{CONTROLLER_PW}"' in plain
    assert f'user_controller="{CONTROLLER_PW}";' in plain


@pytest.mark.parametrize("bad", ['quote"inside-0123456789', "short", "has space 0123456789"])
def test_passwords_that_would_break_jaas_quoting_are_refused(bad: str) -> None:
    with pytest.raises(StackConfigError):
        config.render_client_properties("admin", bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:19092", Endpoint("127.0.0.1", 19092)), ("localhost:1", Endpoint("127.0.0.1", 1))],
)
def test_endpoints_must_be_loopback(value: str, expected: Endpoint) -> None:
    assert config.parse_loopback_endpoint(value, setting="X") == expected


@pytest.mark.parametrize("value", ["0.0.0.0:19092", "10.0.0.5:19092", "127.0.0.1", "host:x"])
def test_non_loopback_or_malformed_endpoints_are_refused(value: str) -> None:
    with pytest.raises(StackConfigError):
        config.parse_loopback_endpoint(value, setting="SAFEHUB_KAFKA_BOOTSTRAP")


def test_opa_url_parses_to_its_listen_address() -> None:
    assert config.parse_loopback_url("http://127.0.0.1:18181", setting="X") == Endpoint(
        "127.0.0.1", 18181
    )
    with pytest.raises(StackConfigError):
        config.parse_loopback_url("https://opa.example:443", setting="SAFEHUB_OPA_URL")


# --- format, credentials, tools -----------------------------------------------------------


def test_format_adds_one_scram_credential_per_user() -> None:
    args = config.storage_format_args(
        cluster_id="AAAAAAAAAAAAAAAAAAAAAA",
        server_properties=Path("/state/server.properties"),
        scram_passwords={"admin": "admin-secret-0123456789", "broker": BROKER_PW},
    )
    assert args[:5] == ("format", "-t", "AAAAAAAAAAAAAAAAAAAAAA", "-c", "/state/server.properties")
    assert args[5:] == (
        "--add-scram",
        "SCRAM-SHA-256=[name=admin,password=admin-secret-0123456789]",
        "--add-scram",
        f"SCRAM-SHA-256=[name=broker,password={BROKER_PW}]",
    )


def test_cluster_id_is_a_base64url_uuid_that_is_never_read_as_an_option() -> None:
    cluster_id = config.cluster_id_from_bytes(b"\xff" * 16)
    assert len(cluster_id) == 22
    assert cluster_id[0] not in "-_"


def test_credential_file_format() -> None:
    body = json.loads(config.render_credential("gateway", "gateway-secret-0123456789"))
    assert body == {
        "username": "gateway",
        "password": "gateway-secret-0123456789",
        "mechanism": "SCRAM-SHA-256",
    }


def test_new_scram_users_get_their_password_from_a_file_not_argv() -> None:
    args = config.config_command_add_scram_args(
        bootstrap=BOOTSTRAP,
        command_config=COMMAND_CONFIG,
        principal="feed-new",
        config_file=Path("/state/kafka/.scram-feed-new.properties"),
    )
    assert "--add-config-file" in args
    assert not any("password" in arg for arg in args)
    assert args[-4:] == ("--entity-type", "users", "--entity-name", "feed-new")
    assert config.render_scram_config_file("p" * 20) == f"SCRAM-SHA-256=password={'p' * 20}\n"


def test_redaction_hides_known_secrets_and_jaas_passwords() -> None:
    text = f'x password="{BROKER_PW}" [name=a,password=other-0123456789] {CONTROLLER_PW}'
    shown = config.redact_secrets(text, [BROKER_PW, CONTROLLER_PW])
    assert BROKER_PW not in shown
    assert CONTROLLER_PW not in shown
    assert "other-0123456789" not in shown
    assert config.redact_secrets("ssl.key.password = [hidden]", []) == (
        "ssl.key.password = [hidden]"
    )


def test_tool_and_server_command_lines() -> None:
    libs = Path("/cache/kafka-4.1.2/libs")
    server = config.kafka_server_argv(
        java="/usr/bin/java", libs_dir=libs, server_properties=Path("/s.properties")
    )
    assert server[:3] == ("/usr/bin/java", "-Xms512m", "-Xmx1g")
    assert server[-2:] == ("kafka.Kafka", "/s.properties")
    assert f"{libs}/*" in server
    opa = config.opa_argv(
        opa=Path("/cache/opa"), addr=Endpoint("127.0.0.1", 18181), policies_dir=Path("/p")
    )
    assert opa == (
        "/cache/opa",
        "run",
        "--server",
        "--addr",
        "127.0.0.1:18181",
        "--bundle",
        "/p",
        "--log-level",
        "error",
    )


def test_topic_partitions(topology: Topology) -> None:
    specs = {spec.name: spec for spec in config.topic_specs(topology, RETENTION)}
    assert set(specs) == set(topology.all_topics)
    assert {s.replication_factor for s in specs.values()} == {1}
    for name, spec in specs.items():
        expected = 3 if name.startswith(("notices.", "feed.")) else 1
        assert spec.partitions == expected, name
    assert specs["audit.decisions.v1"].partitions == 1
    assert specs["audit.checkpoints.v1"].partitions == 1
    assert specs["gateway.deadletter.v1"].partitions == 1


def test_topics_are_created_with_the_retention_their_kind_gets(topology: Topology) -> None:
    specs = {spec.name: dict(spec.config) for spec in config.topic_specs(topology, RETENTION)}
    feed = RETENTION.topics[TopicKind.FEED].retention_ms
    notices = RETENTION.topics[TopicKind.NOTICES].retention_ms
    delete = {"cleanup.policy": "delete"}
    assert specs["feed.mash-manager.v1"] == {**delete, "retention.ms": str(feed)}
    assert specs["feed.school-dsl.v1"] == {**delete, "retention.ms": str(feed)}
    assert specs["notices.police.v1"] == {**delete, "retention.ms": str(notices)}
    audit = RETENTION.topics[TopicKind.AUDIT].retention_ms
    for records in ("audit.decisions.v1", "audit.access.v1"):
        assert specs[records] == {**delete, "retention.ms": str(audit)}, records
    assert specs["audit.checkpoints.v1"] == {**delete, "retention.ms": "-1"}
    assert specs["childindex.linkage.v1"] == {**delete, "retention.ms": "-1"}
    # Compacted: retention.ms would not apply, so it is not set at all.
    assert specs["gateway.notices-seen.v1"] == {"cleanup.policy": "compact"}


def test_retention_that_contradicts_the_topology_stops_the_stack(topology: Topology) -> None:
    raw = json.loads((REPO_ROOT / "policies" / RETENTION_FILE).read_text())
    raw["topics"]["NOTICES_SEEN"] = {"retention_ms": 86_400_000, "why": "a mistake"}
    rules = RetentionRules.from_data(raw)
    with pytest.raises(StackConfigError, match=r"gateway\.notices-seen\.v1"):
        config.topic_specs(topology, rules)


# --- ACL batches ------------------------------------------------------------------------------


def _parse_acl_args(args: Sequence[str]) -> tuple[str, frozenset[AclGrant]]:
    """Read AclCommand arguments back into the grants they create (cartesian product)."""
    principals: list[str] = []
    operations: list[Operation] = []
    resources: list[tuple[ResourceType, str]] = []
    action, prefixed = "", False
    flags = {
        "--topic": ResourceType.TOPIC,
        "--group": ResourceType.GROUP,
        "--transactional-id": ResourceType.TRANSACTIONAL_ID,
    }
    it = iter(args)
    for arg in it:
        if arg in ("--add", "--remove"):
            action = arg[2:]
        elif arg == "--resource-pattern-type":
            prefixed = next(it) == "prefixed"
        elif arg == "--allow-principal":
            principals.append(next(it).removeprefix("User:"))
        elif arg == "--operation":
            operations.append(Operation(next(it)))
        elif arg == "--cluster":
            resources.append((ResourceType.CLUSTER, "kafka-cluster"))
        elif arg in flags:
            resources.append((flags[arg], next(it)))
        elif arg in ("--bootstrap-server", "--command-config"):
            next(it)
        elif arg != "--force":
            raise AssertionError(f"unexpected AclCommand argument {arg!r}")
    grants = frozenset(
        AclGrant(p, rtype, name, op, prefixed)
        for p in principals
        for op in operations
        for rtype, name in resources
    )
    return action, grants


def _applied(grants: Sequence[AclGrant]) -> frozenset[AclGrant]:
    created: set[AclGrant] = set()
    for batch in config.group_grants(grants):
        args = config.acl_command_args(
            batch, action="add", bootstrap=BOOTSTRAP, command_config=COMMAND_CONFIG
        )
        action, batch_grants = _parse_acl_args(args)
        assert action == "add"
        created |= batch_grants
    return frozenset(created)


def test_every_grant_becomes_acl_command_args_and_nothing_more(topology: Topology) -> None:
    grants = topology.acl_grants()
    assert _applied(grants) == frozenset(grants)


def test_the_real_bundle_topology_is_applied_exactly() -> None:
    grants = load_topology(REPO_ROOT / "policies").acl_grants()
    assert _applied(grants) == frozenset(grants)


def test_batching_cuts_jvm_launches(topology: Topology) -> None:
    grants = topology.acl_grants()
    batches = config.group_grants(grants)
    assert len(batches) < len(grants) / 2
    # Every producer's IdempotentWrite on the cluster goes in one call.
    cluster_writes = [b for b in batches if b.operations == (Operation.IDEMPOTENT_WRITE,)]
    assert len(cluster_writes) == 1
    assert set(cluster_writes[0].principals) == {
        "adapter-police",
        "adapter-health",
        "gateway",
        "audit",
        "console",
        "childindex",
    }


def test_a_batch_never_mixes_pattern_types(topology: Topology) -> None:
    for batch in config.group_grants(topology.acl_grants()):
        args = config.acl_command_args(
            batch, action="add", bootstrap=BOOTSTRAP, command_config=COMMAND_CONFIG
        )
        assert args.count("--resource-pattern-type") == 1


def test_removal_batches_are_forced_and_name_what_to_remove() -> None:
    batch = AclBatch(
        ("feed-old",), (Operation.READ,), ((ResourceType.TOPIC, "feed.old.v1"),), prefixed=False
    )
    args = config.acl_command_args(
        batch, action="remove", bootstrap=BOOTSTRAP, command_config=COMMAND_CONFIG
    )
    assert "--force" in args
    assert _parse_acl_args(args) == ("remove", config.expand_batch(batch))


_grant_strategy = st.builds(
    AclGrant,
    principal=st.sampled_from(["a", "b", "c"]),
    resource_type=st.sampled_from([ResourceType.TOPIC, ResourceType.GROUP]),
    resource_name=st.sampled_from(["t1", "t2", "g1"]),
    operation=st.sampled_from([Operation.READ, Operation.WRITE, Operation.DESCRIBE]),
    prefixed=st.booleans(),
)


@given(st.lists(_grant_strategy, max_size=25))
def test_grouping_never_widens_or_drops_any_grant_set(grants: list[AclGrant]) -> None:
    expanded = frozenset().union(*(config.expand_batch(b) for b in config.group_grants(grants)))
    assert expanded == frozenset(grants)


def test_marker_round_trip_and_diff(topology: Topology) -> None:
    grants = topology.acl_grants()
    encoded = config.encode_grants(grants)
    assert config.decode_grants(encoded) == frozenset(grants)
    assert json.loads(encoded)["digest"] == config.grants_digest(reversed(grants))
    smaller = Topology(agencies=topology.agencies, subscribers=topology.subscribers[:1])
    to_add, to_remove = config.diff_grants(grants, smaller.acl_grants())
    assert to_add == frozenset()
    assert to_remove
    # The leaver's own rights go, and so does the gateway's right to write its feed.
    assert {g.principal for g in to_remove} == {"feed-school-dsl", "gateway"}
    assert all("school-dsl" in g.resource_name for g in to_remove)


# --- least privilege (the grants the stack applies) ----------------------------------------


def _grants_of(topology: Topology, principal: str) -> list[AclGrant]:
    return [g for g in topology.acl_grants() if g.principal == principal]


def test_an_adapter_writes_only_its_own_agency_topic(topology: Topology) -> None:
    police = _grants_of(topology, "adapter-police")
    assert not [g for g in police if g.resource_name == "notices.health.v1"]
    topics = {g.resource_name for g in police if g.resource_type is ResourceType.TOPIC}
    assert topics == {"notices.police.v1"}
    assert {g.operation for g in police if g.resource_type is ResourceType.TOPIC} == {
        Operation.WRITE,
        Operation.DESCRIBE,
    }
    assert not [g for g in police if g.operation is Operation.READ]


def test_feed_principals_read_only_their_own_feed(topology: Topology) -> None:
    for subscriber in topology.subscribers:
        grants = _grants_of(topology, subscriber.principal)
        topics = {g.resource_name for g in grants if g.resource_type is ResourceType.TOPIC}
        assert topics == {subscriber.feed_topic}
        assert all(not g.prefixed for g in grants if g.resource_type is ResourceType.TOPIC)
        assert Operation.WRITE not in {g.operation for g in grants}
        groups = [g for g in grants if g.resource_type is ResourceType.GROUP]
        assert [(g.resource_name, g.prefixed) for g in groups] == [
            (subscriber.consumer_group, True)
        ]
        assert not [g for g in grants if g.resource_type is ResourceType.CLUSTER]


def test_only_admin_holds_wildcards_or_all(topology: Topology) -> None:
    for grant in topology.acl_grants():
        if grant.principal == "admin":
            continue
        assert grant.resource_name != "*", grant
        assert grant.operation is not Operation.ALL, grant
        if grant.resource_type is ResourceType.CLUSTER:
            assert grant.operation is Operation.IDEMPOTENT_WRITE, grant


def test_no_grant_is_given_to_the_super_users(topology: Topology) -> None:
    principals = {g.principal for g in topology.acl_grants()}
    assert not principals & {config.BROKER_USER, config.CONTROLLER_USER}


def test_acl_batch_jobs_are_one_call_per_line(topology: Topology) -> None:
    calls = [
        config.acl_command_args(b, action="add", bootstrap=BOOTSTRAP, command_config=COMMAND_CONFIG)
        for b in config.group_grants(topology.acl_grants())
    ]
    text = config.render_acl_batch_jobs(calls)
    assert [tuple(line.split("\t")) for line in text.splitlines()] == calls
    assert "org.apache.kafka.tools.AclCommand.main" in config.ACL_BATCH_SOURCE


def test_acl_batch_jobs_refuse_arguments_that_would_split_wrongly() -> None:
    with pytest.raises(StackConfigError):
        config.render_acl_batch_jobs([("--topic", "a\tb")])


def test_failure_excerpt_shows_the_failing_call_not_the_usage_table() -> None:
    output = "\n".join(
        [
            "$ AclCommand --add --topic ok",
            "Adding ACLs for resource ...",
            "$ AclCommand --add --operation IdempotentWrite --topic x",
            "ResourceType TOPIC only supports operations [READ, WRITE]",
            "Option                                   Description",
            "------                                   -----------",
            "--add                                    Indicates you are trying to add ACLs.",
        ]
    )
    assert config.failure_excerpt(output) == (
        "$ AclCommand --add --operation IdempotentWrite --topic x\n"
        "ResourceType TOPIC only supports operations [READ, WRITE]"
    )
