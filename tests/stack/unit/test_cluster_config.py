"""A multi-node cluster's configuration, rendered by the single node's renderer: every node
in the quorum, its own ports and log directory, replication settings that survive one node's
loss, and the same security settings as the local stack's node."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.stack import config
from services.stack.config import Endpoint, KafkaServerConfig, NodePorts, TopicSpec
from services.stack.errors import StackConfigError

BROKER_PW = "broker-secret-0123456789"
CONTROLLER_PW = "controller-secret-0123456789"
KEYSTORE = Path("/cluster/kafka/kafka-keystore.pem")


def _ports(base: int) -> NodePorts:
    return NodePorts(Endpoint("127.0.0.1", base), base + 1, Endpoint("127.0.0.1", base + 2))


def _nodes(count: int, *, min_isr: int = 2) -> tuple[KafkaServerConfig, ...]:
    return config.cluster_node_configs(
        nodes=[_ports(29000 + 10 * i) for i in range(count)],
        log_root=Path("/cluster/kafka"),
        broker_password=BROKER_PW,
        controller_password=CONTROLLER_PW,
        tls_keystore=KEYSTORE,
        min_insync_replicas=min_isr,
    )


def _properties(node: KafkaServerConfig) -> dict[str, str]:
    text = config.render_server_properties(node)
    entries = (line.partition("=") for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, _, value in entries}


def test_every_node_votes_in_one_quorum_with_its_own_id_ports_and_log_dir() -> None:
    rendered = [_properties(node) for node in _nodes(3)]
    voters = "1@127.0.0.1:29001,2@127.0.0.1:29011,3@127.0.0.1:29021"
    assert [p["node.id"] for p in rendered] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in rendered} == {voters}
    assert [p["log.dirs"] for p in rendered] == [
        "/cluster/kafka/node-1",
        "/cluster/kafka/node-2",
        "/cluster/kafka/node-3",
    ]
    assert rendered[1]["listeners"] == (
        "CLIENT://127.0.0.1:29010,CONTROLLER://127.0.0.1:29011,CLIENT_TLS://127.0.0.1:29012"
    )
    assert rendered[1]["advertised.listeners"] == (
        "CLIENT://127.0.0.1:29010,CLIENT_TLS://127.0.0.1:29012"
    )


def test_replication_survives_one_node_lost() -> None:
    for properties in (_properties(node) for node in _nodes(3)):
        assert properties["default.replication.factor"] == "3"
        assert properties["min.insync.replicas"] == "2"
        assert properties["offsets.topic.replication.factor"] == "3"
        assert properties["transaction.state.log.replication.factor"] == "3"
        assert properties["transaction.state.log.min.isr"] == "2"
        assert properties["unclean.leader.election.enable"] == "false"


def test_cluster_nodes_keep_the_stack_security_settings() -> None:
    for properties in (_properties(node) for node in _nodes(3)):
        assert properties["allow.everyone.if.no.acl.found"] == "false"
        assert properties["super.users"] == "User:broker;User:controller"
        assert "CLIENT_TLS:SASL_SSL" in properties["listener.security.protocol.map"]
        assert properties["listener.name.client_tls.ssl.keystore.location"] == str(KEYSTORE)
        assert properties["auto.create.topics.enable"] == "false"


def test_single_node_file_has_no_cluster_settings() -> None:
    (node,) = _nodes(1, min_isr=1)
    properties = _properties(node)
    assert properties["controller.quorum.voters"] == "1@127.0.0.1:29001"
    assert "default.replication.factor" not in properties
    assert "min.insync.replicas" not in properties


@pytest.mark.parametrize("min_isr", [0, 4])
def test_min_isr_must_fit_the_nodes(min_isr: int) -> None:
    with pytest.raises(StackConfigError, match=r"min\.insync\.replicas"):
        config.render_server_properties(_nodes(3, min_isr=min_isr)[0])


def test_nodes_may_not_share_a_port() -> None:
    with pytest.raises(StackConfigError, match="reuse a port"):
        config.cluster_node_configs(
            nodes=[_ports(29000), _ports(29001)],
            log_root=Path("/cluster/kafka"),
            broker_password=BROKER_PW,
            controller_password=CONTROLLER_PW,
            tls_keystore=KEYSTORE,
            min_insync_replicas=1,
        )


def test_replicated_topics_keep_their_settings_and_gain_min_isr() -> None:
    specs = (
        TopicSpec("audit.decisions.v1", 3, config=(("retention.ms", "-1"),)),
        TopicSpec("gateway.notices-seen.v1", 3, config=(("cleanup.policy", "compact"),)),
    )
    replicated = config.replicated_topic_specs(specs, replication_factor=3, min_insync_replicas=2)
    assert [(s.name, s.partitions, s.replication_factor) for s in replicated] == [
        ("audit.decisions.v1", 3, 3),
        ("gateway.notices-seen.v1", 3, 3),
    ]
    assert dict(replicated[0].config) == {"retention.ms": "-1", "min.insync.replicas": "2"}
    assert dict(replicated[1].config) == {
        "cleanup.policy": "compact",
        "min.insync.replicas": "2",
    }
    with pytest.raises(StackConfigError):
        config.replicated_topic_specs(specs, replication_factor=2, min_insync_replicas=3)
