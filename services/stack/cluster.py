"""A Kafka cluster of several KRaft nodes on loopback, beside the local stack (fault tests).

`LoopbackCluster(settings, root, ports).start()` runs N nodes, each broker and controller,
from the jars the stack already downloads, rendered by `config.cluster_node_configs` and
`config.render_server_properties` (the single node's renderer, given a node id and the whole
quorum). It reuses what the running stack made, read-only:

- the stack's TLS certificate (127.0.0.1 / localhost, signed by its CA): every node's SASL_SSL
  listener presents it, so services trust the cluster with the CA they already trust;
- the SCRAM passwords in <data_dir>/credentials: every principal of the topology gets the same
  password on the cluster, so a service's credential file works unchanged;
- the topology's ACLs (applied by `KafkaBroker.sync_acls`, as `safehub stack up` does) and its
  topics (`KafkaBroker.ensure_topics`) with one replica per node and min.insync.replicas.

Its own state (log directories, server.properties, the broker's and controller's passwords,
logs) lives under `root`, never under the stack's data dir, and each node is a child process
of the caller: `kill(node_id)` sends SIGKILL, `restart(node_id)` starts it again on the same
ports and log directory. Nothing here touches the stack's own broker or OPA.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from services.hubkit.bus import admin_client
from services.hubkit.private_files import private_dir, write_private
from services.hubkit.retention import RetentionRules
from services.hubkit.settings import HubSettings
from services.hubkit.topology import Topology, load_topology
from services.stack import config
from services.stack.artifacts import ensure_kafka_libs, require_tool
from services.stack.config import (
    BROKER_USER,
    CONTROLLER_USER,
    KafkaServerConfig,
    NodePorts,
    StackLayout,
)
from services.stack.credentials import StackCredentials, new_secret
from services.stack.errors import ComponentUnhealthy, KafkaToolFailed, StackConfigError
from services.stack.kafka_broker import KafkaBroker
from services.stack.kafka_tools import STORAGE_TOOL, KafkaTools
from services.stack.processes import Progress, StackProcesses, port_open

__all__ = ["CLUSTER_START_TIMEOUT_S", "ClusterNode", "LoopbackCluster"]

CLUSTER_START_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 15.0
_POLL_S = 0.5


@dataclass(slots=True)
class ClusterNode:
    """One node: its rendered configuration, files and (while it runs) its process."""

    config: KafkaServerConfig
    properties: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def node_id(self) -> int:
        return self.config.node_id

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class LoopbackCluster:
    """N combined broker+controller nodes on loopback, provisioned from the topology.

    Its methods block (they run their own event loop for the health checks); async callers
    run `start` and `restart` in a thread (`asyncio.to_thread`)."""

    def __init__(
        self,
        settings: HubSettings,
        root: Path,
        ports: Sequence[NodePorts],
        *,
        min_insync_replicas: int = 2,
        progress: Progress | None = None,
    ) -> None:
        self._stack = settings
        self._root = root
        self._progress: Progress = progress or (lambda _: None)
        self._min_isr = min_insync_replicas
        # The stack's cache and credentials, this cluster's own state under root.
        self._layout = StackLayout(
            data_dir=root, cache_dir=settings.cache_dir, credentials_dir=settings.credentials_dir
        )
        self._credentials = StackCredentials(self._layout)
        first = ports[0]
        # KafkaBroker provisions (ACLs, topics) through node 1, as the stack's runner does
        # through its single node.
        self._provisioning = settings.model_copy(
            update={
                "kafka_bootstrap": str(first.client),
                "kafka_tls_bootstrap": str(first.tls_client),
                "kafka_controller_port": first.controller_port,
            }
        )
        self._ports = tuple(ports)
        self.nodes: dict[int, ClusterNode] = {}
        self._java = ""
        self._libs = Path()

    @property
    def state_dir(self) -> Path:
        """Log directories, server.properties, passwords and the keystore (the node logs are
        under <root>/logs)."""
        return self._layout.kafka_dir

    # --- where clients connect ----------------------------------------------------------------

    @property
    def settings(self) -> HubSettings:
        """The stack's settings pointed at this cluster: SASL_SSL to every node's TLS listener
        (the stack's CA, the stack's credentials and keys)."""
        return self._stack.model_copy(update=self.env_settings())

    def env_settings(self) -> dict[str, str]:
        return {
            "kafka_bootstrap": ",".join(str(p.client) for p in self._ports),
            "kafka_tls_bootstrap": ",".join(str(p.tls_client) for p in self._ports),
            "kafka_security_protocol": "SASL_SSL",
        }

    def env(self) -> dict[str, str]:
        """The environment that points a service process (e.g. `safehub gateway run`) here."""
        return {f"SAFEHUB_{key.upper()}": value for key, value in self.env_settings().items()}

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self, *, timeout_s: float = CLUSTER_START_TIMEOUT_S) -> None:
        """Render, format, start every node, wait until all are registered, then apply the
        topology's ACLs and create its topics with one replica per node."""
        topology = load_topology(self._stack.policies_dir)
        retention = RetentionRules.load(self._stack.policies_dir)
        private_dir(self._root)
        private_dir(self._layout.kafka_dir)
        private_dir(self._layout.logs_dir)
        self._java = require_tool("java")
        self._libs = ensure_kafka_libs(self._stack, self._progress)
        tools = KafkaTools(
            java=self._java,
            libs=self._libs,
            log_path=self._layout.log_file("kafka-tools"),
            redact=self._credentials.redact,
            parallelism=len(self._ports),
        )
        self._render(topology, tools)
        for node in self.nodes.values():
            self._launch(node)
        self.wait_registered(tuple(self.nodes), timeout_s=timeout_s)
        broker = KafkaBroker(
            self._provisioning,
            self._layout,
            StackProcesses(self._layout, self._progress, self._credentials.redacted_tail),
            self._credentials,
            self._progress,
        )
        broker.write_tool_client_config()
        broker.sync_acls(tools, topology.acl_grants())
        broker.ensure_topics(
            topology,
            retention,
            replication_factor=len(self._ports),
            min_insync_replicas=self._min_isr,
        )

    def kill(self, node_id: int) -> None:
        """SIGKILL, as a machine that loses power: no controlled shutdown, no flush."""
        node = self.nodes[node_id]
        if node.process is None:
            raise StackConfigError(f"kafka node {node_id} is not running")
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait(timeout=_STOP_TIMEOUT_S)
        self._close(node)

    def restart(self, node_id: int, *, timeout_s: float = CLUSTER_START_TIMEOUT_S) -> None:
        """Start a stopped node again on its ports and log directory, and wait until the
        cluster lists it among its brokers."""
        node = self.nodes[node_id]
        if node.running:
            raise StackConfigError(f"kafka node {node_id} is still running")
        self._launch(node)
        self.wait_registered((node_id,), timeout_s=timeout_s)

    def stop(self) -> None:
        """Stop every node this cluster started (SIGTERM, then SIGKILL after a while)."""
        for node in self.nodes.values():
            if node.running and node.process is not None:
                node.process.terminate()
        for node in self.nodes.values():
            if node.process is not None:
                try:
                    node.process.wait(timeout=_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait(timeout=_STOP_TIMEOUT_S)
            self._close(node)

    # --- health ---------------------------------------------------------------------------------

    def wait_registered(self, node_ids: Sequence[int], *, timeout_s: float) -> None:
        """Until each of `node_ids` answers on its TLS listener and the cluster's metadata
        lists it as a broker."""
        deadline = time.monotonic() + timeout_s
        reason = "not probed yet"
        while time.monotonic() < deadline:
            for node_id in node_ids:
                node = self.nodes[node_id]
                if node.process is not None and node.process.poll() is not None:
                    raise ComponentUnhealthy(
                        f"kafka node {node_id}",
                        f"exited with status {node.process.returncode}",
                        node.log_path,
                        self._credentials.redacted_tail(node.log_path),
                    )
            reason = asyncio.run(self._unregistered(node_ids)) or ""
            if not reason:
                return
            time.sleep(_POLL_S)
        log_path = self.nodes[node_ids[0]].log_path
        raise ComponentUnhealthy(
            "kafka cluster",
            f"not healthy after {timeout_s:.0f}s: {reason}",
            log_path,
            self._credentials.redacted_tail(log_path),
        )

    async def _unregistered(self, node_ids: Sequence[int]) -> str | None:
        for node_id in node_ids:
            if not port_open(self._ports[node_id - 1].tls_client):
                return f"node {node_id}: nothing listens on its TLS port yet"
        # Through the node itself: its TLS listener and SCRAM work, and it knows the cluster.
        one = self._ports[node_ids[0] - 1].tls_client
        client = admin_client(self.settings.model_copy(update={"kafka_tls_bootstrap": str(one)}))
        try:
            await asyncio.wait_for(client.start(), 5.0)
            described = await asyncio.wait_for(client.describe_cluster(), 5.0)
        except Exception as error:  # any failure here only means "not healthy yet"
            return f"metadata request failed: {type(error).__name__}"
        finally:
            with contextlib.suppress(Exception):
                await client.close()
        listed = {int(b["node_id"]) for b in described.get("brokers", [])}
        missing = sorted(set(node_ids) - listed)
        return f"nodes {missing} not registered yet" if missing else None

    # --- steps ----------------------------------------------------------------------------------

    def _render(self, topology: Topology, tools: KafkaTools) -> None:
        internal = {BROKER_USER: new_secret(), CONTROLLER_USER: new_secret()}
        write_private(self._layout.internal_credentials, json.dumps(internal) + "\n")
        # The stack's certificate, in a keystore of the cluster's own (a copy: the stack
        # reissues its own when due).
        keystore = self._layout.kafka_dir / "kafka-keystore.pem"
        try:
            write_private(
                keystore,
                config.render_pem_keystore(
                    private_key_pem=(self._stack.tls_dir / "server-key.pem").read_text(),
                    certificate_chain_pem=(self._stack.tls_dir / "server.pem").read_text(),
                ),
            )
        except FileNotFoundError:
            raise StackConfigError(
                f"kafka cluster: no TLS certificate in {self._stack.tls_dir}; "
                "run `safehub stack up` first (the cluster reuses the stack's certificate)"
            ) from None
        configs = config.cluster_node_configs(
            nodes=self._ports,
            log_root=self._layout.kafka_dir,
            broker_password=internal[BROKER_USER],
            controller_password=internal[CONTROLLER_USER],
            tls_keystore=keystore,
            min_insync_replicas=self._min_isr,
        )
        passwords = {p: self._credentials.principal_password(p) for p in topology.principals}
        passwords[BROKER_USER] = internal[BROKER_USER]
        cluster_id = config.cluster_id_from_bytes(secrets.token_bytes(16))
        jobs = []
        for node_config in configs:
            node_id = node_config.node_id
            node = ClusterNode(
                config=node_config,
                properties=self._layout.kafka_dir / f"node-{node_id}.properties",
                log_path=self._layout.log_file(f"kafka-node-{node_id}"),
            )
            write_private(node.properties, config.render_server_properties(node_config))
            self.nodes[node_id] = node
            args = config.storage_format_args(
                cluster_id=cluster_id, server_properties=node.properties, scram_passwords=passwords
            )
            jobs.append((f"node {node_id}", args))
        self._progress(f"kafka cluster: formatting {len(jobs)} nodes (cluster {cluster_id})")
        failed = tools.run_parallel(STORAGE_TOOL, jobs)
        if failed:
            raise KafkaToolFailed(
                "StorageTool",
                f"formatting {', '.join(label for label, _ in failed)}",
                tools.log_path,
                config.failure_excerpt(failed[0][1]),
            )

    def _launch(self, node: ClusterNode) -> None:
        for endpoint in (
            node.config.client,
            config.Endpoint(node.config.client.host, node.config.controller_port),
            node.config.tls_client,
        ):
            if endpoint is not None and port_open(endpoint):
                raise StackConfigError(
                    f"kafka node {node.node_id}: {endpoint} is already in use; "
                    "pick other ports for the cluster"
                )
        argv = config.kafka_server_argv(
            java=self._java, libs_dir=self._libs, server_properties=node.properties
        )
        node.log = node.log_path.open("ab")
        node.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=node.log, stderr=subprocess.STDOUT
        )
        self._progress(f"kafka cluster: node {node.node_id} started (pid {node.process.pid})")

    @staticmethod
    def _close(node: ClusterNode) -> None:
        node.process = None
        if node.log is not None:
            node.log.close()
            node.log = None
