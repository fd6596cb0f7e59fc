"""A three-node KRaft cluster on loopback beside the shared stack, for the fault tests here.

The cluster (services/stack/cluster.py) runs from the stack's Kafka jars, with the stack's TLS
certificate and SCRAM passwords, on free ports and a log directory of its own under pytest's
tmp dir: the shared single broker (and other tests on it) are never touched. Each node is a
child process of the test, so a test can SIGKILL one and start it again.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from services.hubkit.settings import HubSettings
from services.stack.cluster import LoopbackCluster
from services.stack.config import Endpoint, NodePorts
from tests.gateway.integration.processes import free_port

CLUSTER_NODES = 3
MIN_INSYNC_REPLICAS = 2
_LOOPBACK = "127.0.0.1"


def _distinct_free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def cluster(
    stack: HubSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoopbackCluster]:
    """Started, every node registered, ACLs applied and topics created with replication
    factor 3 and min.insync.replicas=2; stopped (and its state removed) after."""
    root = tmp_path_factory.mktemp("kafka-cluster")
    free = iter(_distinct_free_ports(3 * CLUSTER_NODES))
    ports = [
        NodePorts(Endpoint(_LOOPBACK, next(free)), next(free), Endpoint(_LOOPBACK, next(free)))
        for _ in range(CLUSTER_NODES)
    ]
    running = LoopbackCluster(stack, root, ports, min_insync_replicas=MIN_INSYNC_REPLICAS)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        # The partitions of a 10,000-notice run take a gigabyte or so, and the state holds
        # passwords and a copy of the stack's TLS key; only the node logs stay.
        shutil.rmtree(running.state_dir, ignore_errors=True)
