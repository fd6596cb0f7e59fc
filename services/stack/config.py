"""The local stack's configuration as pure functions: no I/O, no clock, no randomness.

Everything the runner writes or launches is rendered here from plain values, so the unit tests
can check the security-relevant settings (SASL everywhere, the StandardAuthorizer, no
everyone-allowed fallback, least-privilege ACLs, the SASL_SSL listener, OPA's TLS and token
authentication) without a broker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from services.hubkit.retention import RetentionRules, topic_retention
from services.hubkit.topology import AclGrant, Operation, ResourceType, Topology
from services.stack.errors import StackConfigError

__all__ = [
    "ACL_BATCH_CLASS",
    "ACL_BATCH_SOURCE",
    "BROKER_USER",
    "CLUSTER_RESOURCE_NAME",
    "CONTROLLER_USER",
    "KAFKA_HEAP_OPTS",
    "OPA_BUNDLE_POLL_S",
    "OPA_BUNDLE_SERVICE",
    "OPA_TOKEN_ENV",
    "SCRAM_MECHANISM",
    "TLS_LISTENER",
    "TOOL_JVM_OPTS",
    "AclBatch",
    "Endpoint",
    "KafkaServerConfig",
    "NodePorts",
    "OpaTls",
    "StackLayout",
    "TopicSpec",
    "acl_command_args",
    "bundle_server_argv",
    "cluster_id_from_bytes",
    "cluster_node_configs",
    "config_command_add_scram_args",
    "config_command_delete_scram_args",
    "decode_grants",
    "diff_grants",
    "encode_grants",
    "expand_batch",
    "failure_excerpt",
    "grants_digest",
    "group_grants",
    "kafka_server_argv",
    "kafka_tool_argv",
    "opa_argv",
    "parse_loopback_endpoint",
    "parse_loopback_url",
    "redact_secrets",
    "render_acl_batch_jobs",
    "render_client_properties",
    "render_credential",
    "render_opa_bundle_config",
    "render_pem_keystore",
    "render_scram_config_file",
    "render_server_properties",
    "replicated_topic_specs",
    "storage_format_args",
    "topic_specs",
    "validate_secret",
]

SCRAM_MECHANISM = "SCRAM-SHA-256"
# The broker's SASL_SSL listener (`listener.name.client_tls.*`): the one clients use when
# SAFEHUB_KAFKA_SECURITY_PROTOCOL=SASL_SSL. The plaintext CLIENT listener stays for loopback
# and for the stack's own tools and inter-broker traffic (one node: it never leaves the host).
TLS_LISTENER = "CLIENT_TLS"
# Super users by configuration. `broker` is also the inter-broker SCRAM user; `controller` is a
# static PLAIN user because KRaft controllers cannot read SCRAM credentials from the metadata
# log they are still replaying.
BROKER_USER = "broker"
CONTROLLER_USER = "controller"
CLUSTER_RESOURCE_NAME = "kafka-cluster"

KAFKA_HEAP_OPTS = ("-Xms512m", "-Xmx1g")
# Kafka's CLI tools run for about a second; a JIT that stops at C1 and the serial collector
# shave a good part of that, and warn-level logging keeps their output readable.
TOOL_JVM_OPTS = (
    "-Xmx256m",
    "-XX:TieredStopAtLevel=1",
    "-XX:+UseSerialGC",
    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})
# Secrets end up inside JAAS double quotes and SCRAM `[k=v,...]` brackets, neither of which has
# an escape syntax Kafka honours everywhere; the generator only makes URL-safe tokens anyway.
_SAFE_SECRET = re.compile(r"[A-Za-z0-9_-]{16,}")


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class StackLayout:
    """Where the stack keeps its state under data_dir and its downloads under cache_dir."""

    data_dir: Path
    cache_dir: Path
    credentials_dir: Path

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def kafka_log_dir(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def meta_properties(self) -> Path:
        return self.kafka_log_dir / "meta.properties"

    @property
    def server_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def internal_credentials(self) -> Path:
        """Broker and controller passwords: never in credentials_dir, which services read."""
        return self.kafka_dir / "internal-credentials.json"

    @property
    def tool_client_properties(self) -> Path:
        return self.kafka_dir / "broker-client.properties"

    @property
    def acl_marker(self) -> Path:
        return self.kafka_dir / "acls-applied.json"

    @property
    def scram_marker(self) -> Path:
        return self.kafka_dir / "scram-users.json"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def lock_file(self) -> Path:
        return self.run_dir / "stack.lock"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def tls_dir(self) -> Path:
        """The stack's private CA and its server certificate for 127.0.0.1 / localhost."""
        return self.data_dir / "tls"

    @property
    def ca_certificate(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def server_certificate(self) -> Path:
        """The server certificate followed by the CA's (the chain a server presents)."""
        return self.tls_dir / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.tls_dir / "server-key.pem"

    @property
    def kafka_keystore(self) -> Path:
        """Key and chain in one PEM file, as Kafka's ssl.keystore.type=PEM reads them."""
        return self.tls_dir / "kafka-keystore.pem"

    def pidfile(self, component: str) -> Path:
        return self.run_dir / f"{component}.pid"

    def log_file(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def credential_file(self, principal: str) -> Path:
        return self.credentials_dir / f"{principal}.json"


@dataclass(frozen=True, slots=True)
class KafkaServerConfig:
    client: Endpoint
    controller_port: int
    log_dir: Path
    broker_password: str
    controller_password: str
    tls_client: Endpoint | None = None
    """The SASL_SSL listener (SCRAM inside TLS); None renders a plaintext-only broker."""
    tls_keystore: Path | None = None
    """PEM file with the broker's private key and certificate chain (see render_pem_keystore)."""
    node_id: int = 1
    controller_voters: tuple[tuple[int, Endpoint], ...] = ()
    """Every controller of the quorum as (node id, controller endpoint); empty: this node
    alone (the local stack). See `cluster_node_configs` for a multi-node cluster."""
    replication_factor: int = 1
    """Replicas of the internal topics (offsets, transaction state) and of a topic created
    without one; 1 on a single node."""
    min_insync_replicas: int = 1
    """Replicas that must acknowledge an acks=all write (and a transaction's state)."""


@dataclass(frozen=True, slots=True)
class NodePorts:
    """One cluster node's loopback listeners: SASL_PLAINTEXT, the controller, SASL_SSL."""

    client: Endpoint
    controller_port: int
    tls_client: Endpoint


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    replication_factor: int = 1
    config: tuple[tuple[str, str], ...] = ()
    """Topic settings beyond the broker's defaults, e.g. ("cleanup.policy", "compact")."""


@dataclass(frozen=True, slots=True)
class AclBatch:
    """One AclCommand call: every principal x operation x resource below, nothing else."""

    principals: tuple[str, ...]
    operations: tuple[Operation, ...]
    resources: tuple[tuple[ResourceType, str], ...]
    prefixed: bool


def validate_secret(secret: str) -> str:
    if not _SAFE_SECRET.fullmatch(secret):
        raise StackConfigError(
            "a stack password is not a URL-safe token of at least 16 characters; "
            "run `safehub stack up --fresh` to generate new credentials"
        )
    return secret


def parse_loopback_endpoint(value: str, *, setting: str) -> Endpoint:
    """`host:port` where host is loopback: the local stack never listens on other interfaces."""
    host, sep, port_text = value.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise StackConfigError(f"{setting}={value!r} is not host:port")
    if host not in _LOOPBACK_HOSTS:
        raise StackConfigError(
            f"{setting}={value!r}: the local stack only listens on loopback (127.0.0.1)"
        )
    return Endpoint("127.0.0.1" if host == "localhost" else host, int(port_text))


def parse_loopback_url(url: str, *, setting: str) -> Endpoint:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise StackConfigError(f"{setting}={url!r}: expected http(s)://127.0.0.1:<port>")
    return parse_loopback_endpoint(rest.split("/", 1)[0], setting=setting)


def render_server_properties(config: KafkaServerConfig) -> str:
    """server.properties for one KRaft node that is broker and controller at once."""
    client = config.client
    controller = Endpoint(client.host, config.controller_port)
    broker_pw = validate_secret(config.broker_password)
    controller_pw = validate_secret(config.controller_password)
    scram_jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{BROKER_USER}" password="{broker_pw}";'
    )
    # The controller listener authenticates with PLAIN against this static user list; the same
    # entry is what the node presents when it connects to its own controller.
    plain_jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{CONTROLLER_USER}" password="{controller_pw}" '
        f'user_{CONTROLLER_USER}="{controller_pw}";'
    )
    tls_listener = tls_protocol = ""
    tls_props: list[tuple[str, str]] = []
    if config.tls_client is not None:
        if config.tls_keystore is None:
            raise StackConfigError("kafka: a SASL_SSL listener needs its PEM keystore file")
        tls_listener = f",{TLS_LISTENER}://{config.tls_client}"
        tls_protocol = f",{TLS_LISTENER}:SASL_SSL"
        prefix = f"listener.name.{TLS_LISTENER.lower()}"
        # SCRAM inside TLS: the same credentials as the plaintext listener, now encrypted and
        # bound to a broker the client has verified. No client certificates (ssl.client.auth
        # stays none): SCRAM identifies the principal, as on the plaintext listener.
        tls_props = [
            (f"{prefix}.sasl.enabled.mechanisms", SCRAM_MECHANISM),
            (f"{prefix}.scram-sha-256.sasl.jaas.config", scram_jaas),
            (f"{prefix}.ssl.keystore.type", "PEM"),
            (f"{prefix}.ssl.keystore.location", str(config.tls_keystore)),
            (f"{prefix}.ssl.enabled.protocols", "TLSv1.3,TLSv1.2"),
        ]
    voters = config.controller_voters or ((config.node_id, controller),)
    replicas, min_isr = config.replication_factor, config.min_insync_replicas
    if not 1 <= min_isr <= replicas <= len(voters):
        raise StackConfigError(
            f"kafka: min.insync.replicas={min_isr} and replication factor {replicas} do not "
            f"fit {len(voters)} node(s) (need 1 <= min ISR <= replicas <= nodes)"
        )
    if (config.node_id, controller) not in voters:
        raise StackConfigError(f"kafka: node {config.node_id} is not among its quorum's voters")
    # Only a cluster says anything about replication beyond the internal topics, so the
    # single node's file stays exactly as it was.
    replication_props: list[tuple[str, str]] = []
    if replicas > 1:
        replication_props = [
            ("default.replication.factor", str(replicas)),
            ("min.insync.replicas", str(min_isr)),
            # A leader is only ever elected from the in-sync replicas: no acknowledged write
            # is lost when a broker dies.
            ("unclean.leader.election.enable", "false"),
        ]
    props: list[tuple[str, str]] = [
        ("process.roles", "broker,controller"),
        ("node.id", str(config.node_id)),
        ("controller.quorum.voters", ",".join(f"{n}@{e}" for n, e in voters)),
        ("listeners", f"CLIENT://{client},CONTROLLER://{controller}{tls_listener}"),
        ("advertised.listeners", f"CLIENT://{client}{tls_listener}"),
        (
            "listener.security.protocol.map",
            f"CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT{tls_protocol}",
        ),
        ("inter.broker.listener.name", "CLIENT"),
        ("controller.listener.names", "CONTROLLER"),
        ("sasl.enabled.mechanisms", SCRAM_MECHANISM),
        ("sasl.mechanism.inter.broker.protocol", SCRAM_MECHANISM),
        ("sasl.mechanism.controller.protocol", "PLAIN"),
        ("listener.name.client.sasl.enabled.mechanisms", SCRAM_MECHANISM),
        ("listener.name.client.scram-sha-256.sasl.jaas.config", scram_jaas),
        ("listener.name.controller.sasl.enabled.mechanisms", "PLAIN"),
        ("listener.name.controller.plain.sasl.jaas.config", plain_jaas),
        *tls_props,
        ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
        ("allow.everyone.if.no.acl.found", "false"),
        ("super.users", f"User:{BROKER_USER};User:{CONTROLLER_USER}"),
        ("log.dirs", str(config.log_dir)),
        # Topics exist only because the runner created them with their partition counts;
        # a typo in a service must fail, not create a stray topic.
        ("auto.create.topics.enable", "false"),
        ("offsets.topic.replication.factor", str(replicas)),
        ("transaction.state.log.replication.factor", str(replicas)),
        ("transaction.state.log.min.isr", str(min_isr)),
        *replication_props,
        # One node: 50 partitions per internal topic only slow down the first group join and the
        # first transaction of every test run.
        ("offsets.topic.num.partitions", "5"),
        ("transaction.state.log.num.partitions", "5"),
        ("group.initial.rebalance.delay.ms", "0"),
    ]
    header = "# Rendered by `safehub stack up`; contains secrets (mode 0600). Do not edit.\n"
    return header + "".join(f"{key}={value}\n" for key, value in props)


def cluster_node_configs(
    *,
    nodes: Sequence[NodePorts],
    log_root: Path,
    broker_password: str,
    controller_password: str,
    tls_keystore: Path,
    min_insync_replicas: int,
) -> tuple[KafkaServerConfig, ...]:
    """One `KafkaServerConfig` per node of a cluster whose every node is broker and
    controller (node ids 1..N, each voting in the quorum): render each with
    `render_server_properties`. Every topic gets one replica per node.

    Each node keeps its log in <log_root>/node-<id>. The nodes share the broker and controller
    passwords and the TLS keystore (one certificate for 127.0.0.1 serves every port).
    """
    if len(nodes) < 1:
        raise StackConfigError("kafka: a cluster needs at least one node")
    ports = [p for n in nodes for p in (n.client.port, n.controller_port, n.tls_client.port)]
    if len(set(ports)) != len(ports):
        raise StackConfigError(f"kafka: cluster nodes reuse a port ({sorted(ports)})")
    voters = tuple(
        (node_id, Endpoint(n.client.host, n.controller_port))
        for node_id, n in enumerate(nodes, start=1)
    )
    return tuple(
        KafkaServerConfig(
            client=n.client,
            controller_port=n.controller_port,
            log_dir=log_root / f"node-{node_id}",
            broker_password=broker_password,
            controller_password=controller_password,
            tls_client=n.tls_client,
            tls_keystore=tls_keystore,
            node_id=node_id,
            controller_voters=voters,
            replication_factor=len(nodes),
            min_insync_replicas=min_insync_replicas,
        )
        for node_id, n in enumerate(nodes, start=1)
    )


def render_client_properties(username: str, password: str) -> str:
    """--command-config for Kafka's CLI tools, authenticating as `username`."""
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{username}" password="{validate_secret(password)}";'
    )
    return (
        "security.protocol=SASL_PLAINTEXT\n"
        f"sasl.mechanism={SCRAM_MECHANISM}\n"
        f"sasl.jaas.config={jaas}\n"
    )


def render_pem_keystore(*, private_key_pem: str, certificate_chain_pem: str) -> str:
    """Kafka's PEM keystore file: an unencrypted PKCS#8 key, then the chain (leaf first)."""
    if "BEGIN PRIVATE KEY" not in private_key_pem:
        raise StackConfigError("kafka: the keystore key must be unencrypted PKCS#8 PEM")
    return private_key_pem.rstrip("\n") + "\n" + certificate_chain_pem.rstrip("\n") + "\n"


def render_credential(username: str, password: str) -> str:
    """The credential file services read: `<credentials_dir>/<principal>.json`."""
    body = {"username": username, "password": password, "mechanism": SCRAM_MECHANISM}
    return json.dumps(body, indent=2) + "\n"


def render_scram_config_file(password: str) -> str:
    """ConfigCommand --add-config-file content; keeps the password off the command line.

    Verified against 4.1.2: the file form takes `password=...` without the brackets that the
    --add-config form needs (with brackets it fails with "Invalid credential property").
    """
    return f"{SCRAM_MECHANISM}=password={validate_secret(password)}\n"


def cluster_id_from_bytes(raw: bytes) -> str:
    """A Kafka cluster id (base64url UUID without padding) from 16 random bytes.

    Clearing the top bit keeps the first character out of `-`/`_`, so the id is never
    mistaken for an option on the StorageTool command line (Kafka's own generator retries).
    """
    if len(raw) != 16:
        raise ValueError("a cluster id needs exactly 16 random bytes")
    fixed = bytes([raw[0] & 0x7F]) + raw[1:]
    return base64.urlsafe_b64encode(fixed).decode("ascii").rstrip("=")


def storage_format_args(
    *, cluster_id: str, server_properties: Path, scram_passwords: Mapping[str, str]
) -> tuple[str, ...]:
    """Arguments after `kafka.tools.StorageTool`: format with every SCRAM user up front.

    The StorageTool only takes SCRAM credentials on its command line; they are visible in
    /proc for the second it runs. Acceptable for a loopback stack with synthetic data; users
    added later go through a 0600 file instead (see `config_command_add_scram_args`).
    """
    args: list[str] = ["format", "-t", cluster_id, "-c", str(server_properties)]
    for name in sorted(scram_passwords):
        password = validate_secret(scram_passwords[name])
        args += ["--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]"]
    return tuple(args)


def config_command_add_scram_args(
    *, bootstrap: Endpoint, command_config: Path, principal: str, config_file: Path
) -> tuple[str, ...]:
    return (
        "--bootstrap-server",
        str(bootstrap),
        "--command-config",
        str(command_config),
        "--alter",
        "--add-config-file",
        str(config_file),
        "--entity-type",
        "users",
        "--entity-name",
        principal,
    )


def config_command_delete_scram_args(
    *, bootstrap: Endpoint, command_config: Path, principal: str
) -> tuple[str, ...]:
    return (
        "--bootstrap-server",
        str(bootstrap),
        "--command-config",
        str(command_config),
        "--alter",
        "--delete-config",
        SCRAM_MECHANISM,
        "--entity-type",
        "users",
        "--entity-name",
        principal,
    )


def kafka_server_argv(*, java: str, libs_dir: Path, server_properties: Path) -> tuple[str, ...]:
    return (
        java,
        *KAFKA_HEAP_OPTS,
        "-Djava.awt.headless=true",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp",
        f"{libs_dir}/*",
        "kafka.Kafka",
        str(server_properties),
    )


def kafka_tool_argv(
    *,
    java: str,
    libs_dir: Path,
    main_class: str,
    args: Iterable[str],
    extra_classpath: Path | None = None,
) -> tuple[str, ...]:
    classpath = f"{libs_dir}/*" + (f":{extra_classpath}" if extra_classpath else "")
    return (java, *TOOL_JVM_OPTS, "-cp", classpath, main_class, *args)


# Each AclCommand launch costs about a second of JVM start-up on a small machine, and the
# topology needs a couple of dozen calls. This runs the same calls, with the same arguments, one
# after the other in a single JVM. AclCommand.main returns on success and exits the JVM with
# status 1 on any error, so a failure stops the batch and is reported like a single call.
ACL_BATCH_CLASS = "SafehubAclBatch"
ACL_BATCH_SOURCE = """\
/** Runs several org.apache.kafka.tools.AclCommand calls in one JVM (generated by safehub). */
public final class SafehubAclBatch {
    public static void main(String[] args) throws Exception {
        java.nio.file.Path jobs = java.nio.file.Path.of(args[0]);
        for (String line : java.nio.file.Files.readAllLines(jobs)) {
            if (line.isEmpty()) {
                continue;
            }
            System.out.println("$ AclCommand " + line.replace('\\t', ' '));
            org.apache.kafka.tools.AclCommand.main(line.split("\\t", -1));
        }
    }
}
"""


def render_acl_batch_jobs(calls: Iterable[Sequence[str]]) -> str:
    """One AclCommand call per line, arguments separated by tabs (the batch class's input)."""
    lines: list[str] = []
    for args in calls:
        if any("\t" in arg or "\n" in arg for arg in args):
            raise StackConfigError(f"an ACL argument contains a tab or newline: {args!r}")
        lines.append("\t".join(args))
    return "".join(f"{line}\n" for line in lines)


# OPA reads the expected bearer token from its own environment (the authz policy compares
# `opa.runtime().env.SAFEHUB_OPA_TOKEN`), so the token is in neither a file OPA serves nor its
# command line; in Kubernetes the variable comes from a Secret.
OPA_TOKEN_ENV = "SAFEHUB_OPA_TOKEN"


@dataclass(frozen=True, slots=True)
class OpaTls:
    """OPA over HTTPS with bearer-token authentication, authorised by `authz_policy`."""

    certificate: Path
    private_key: Path
    authz_policy: Path
    """A file with package system.authz (services/stack/opa/authz.rego), loaded beside the
    signed bundle: outside its `safehub` root, so the bundle's signature is untouched."""


def opa_argv(
    *,
    opa: Path,
    addr: Endpoint,
    policies_dir: Path | None = None,
    config_file: Path | None = None,
    tls: OpaTls | None = None,
) -> tuple[str, ...]:
    """`opa run --server` on loopback.

    The local stack passes `config_file` (see `render_opa_bundle_config`): OPA then loads only
    the signed bundle from the bundle service. `policies_dir` loads a folder as an unsigned
    bundle, which nothing in the stack does any more; kept for ad-hoc runs. With `tls`, OPA
    serves HTTPS only and answers nothing but /health without the bearer token.
    """
    if (policies_dir is None) == (config_file is None):
        raise StackConfigError("opa: give exactly one of a policies folder or a config file")
    if config_file is None:
        source = ("--bundle", str(policies_dir))
    else:
        source = ("--config-file", str(config_file))
    # `--log-level error` keeps the log to what needs attention, which includes every bundle
    # OPA refuses ("Bundle load failed: ...").
    secured: tuple[str, ...] = ()
    if tls is not None:
        secured = (
            "--tls-cert-file",
            str(tls.certificate),
            "--tls-private-key-file",
            str(tls.private_key),
            "--authentication=token",
            "--authorization=basic",
            str(tls.authz_policy),
        )
    return (
        str(opa),
        "run",
        "--server",
        "--addr",
        str(addr),
        *source,
        "--log-level",
        "error",
        *secured,
    )


# The bundle service OPA polls (services/policy/bundle_server.py) and how often. Loopback and
# an ETag make a poll nearly free, so OPA picks up a publish within about two seconds.
OPA_BUNDLE_SERVICE = "safehub-bundles"
OPA_BUNDLE_POLL_S = (1, 2)


def render_opa_bundle_config(
    *,
    bundle_service: Endpoint,
    bundle_name: str,
    key_id: str,
    public_key_pem: str,
    signing_algorithm: str,
    persistence_dir: Path,
) -> str:
    """OPA's configuration: one signed bundle from the loopback bundle service.

    - `signing.keyid` makes verification mandatory: a bundle without `.signatures.json`, with
      a file not covered by the signature, with a changed file or signed by another key is
      refused, and OPA keeps serving the bundle it has (rejection is logged).
    - `persist` keeps the last *activated* bundle on disk and reloads it (verifying it again)
      on restart, so a bad bundle offered while OPA restarts still leaves the previous
      revision live.
    - Only the public key is here; the file holds no secrets.
    """
    min_delay, max_delay = OPA_BUNDLE_POLL_S
    body = {
        "services": {OPA_BUNDLE_SERVICE: {"url": f"http://{bundle_service}"}},
        "bundles": {
            bundle_name: {
                "service": OPA_BUNDLE_SERVICE,
                "resource": f"bundles/{bundle_name}.tar.gz",
                "persist": True,
                "polling": {"min_delay_seconds": min_delay, "max_delay_seconds": max_delay},
                "signing": {"keyid": key_id},
            }
        },
        "keys": {key_id: {"algorithm": signing_algorithm, "key": public_key_pem}},
        "persistence_directory": str(persistence_dir),
    }
    return json.dumps(body, indent=2) + "\n"


def bundle_server_argv(*, python: str, root: Path, addr: Endpoint) -> tuple[str, ...]:
    module = "services.policy.bundle_server"
    return (python, "-m", module, "--root", str(root), "--addr", str(addr))


def topic_specs(topology: Topology, retention: RetentionRules) -> tuple[TopicSpec, ...]:
    """Every topic with its partitions and settings: the topology's own (compaction) plus the
    retention the IG-owned retention rules give its kind (policies/safehub/retention). Only
    used when a topic is created; docs/operators/retention.md says how to alter one that
    exists."""
    specs: list[TopicSpec] = []
    for name in topology.all_topics:
        settings = topology.config(name)
        for key, value in topic_retention(name, topology, retention).kafka_config().items():
            if settings.setdefault(key, value) != value:
                raise StackConfigError(
                    f"topic {name}: the retention rules set {key}={value} but the topology "
                    f"sets {settings[key]}; make policies/safehub/retention/data.json agree"
                )
        specs.append(
            TopicSpec(name, topology.partitions(name), config=tuple(sorted(settings.items())))
        )
    return tuple(specs)


def replicated_topic_specs(
    specs: Iterable[TopicSpec], *, replication_factor: int, min_insync_replicas: int
) -> tuple[TopicSpec, ...]:
    """The same topics for a cluster: each with `replication_factor` replicas and
    min.insync.replicas set, so an acks=all write survives the loss of all but that many."""
    if not 1 <= min_insync_replicas <= replication_factor:
        raise StackConfigError(
            f"kafka: min.insync.replicas={min_insync_replicas} does not fit "
            f"replication factor {replication_factor}"
        )
    replicated: list[TopicSpec] = []
    for spec in specs:
        settings = dict(spec.config)
        settings["min.insync.replicas"] = str(min_insync_replicas)
        replicated.append(
            TopicSpec(
                spec.name,
                spec.partitions,
                replication_factor=replication_factor,
                config=tuple(sorted(settings.items())),
            )
        )
    return tuple(replicated)


# --- ACLs -----------------------------------------------------------------------------------

_ResourceKey = tuple[ResourceType, str]


def group_grants(grants: Iterable[AclGrant]) -> tuple[AclBatch, ...]:
    """Pack grants into few AclCommand calls without granting anything extra.

    AclCommand applies the cartesian product principals x operations x resources of one call,
    so a batch may only join resources that carry exactly the same operation set for exactly
    the same principals. Step 1 collects each principal's operations per resource; step 2 joins
    resources with identical operation sets; step 3 joins principals whose (operations,
    resources) came out identical (e.g. IdempotentWrite on the cluster for every producer).
    """
    ops_by_resource: dict[tuple[str, bool], dict[_ResourceKey, set[Operation]]] = defaultdict(
        lambda: defaultdict(set)
    )
    for grant in grants:
        key = (grant.principal, grant.prefixed)
        ops_by_resource[key][(grant.resource_type, grant.resource_name)].add(grant.operation)

    per_principal: dict[tuple[str, bool, frozenset[Operation]], list[_ResourceKey]] = defaultdict(
        list
    )
    for (principal, prefixed), resources in ops_by_resource.items():
        for resource, ops in resources.items():
            per_principal[(principal, prefixed, frozenset(ops))].append(resource)

    principals_by_shape: dict[
        tuple[bool, frozenset[Operation], tuple[_ResourceKey, ...]], list[str]
    ] = defaultdict(list)
    for (principal, is_prefixed, op_set), members in per_principal.items():
        principals_by_shape[(is_prefixed, op_set, tuple(sorted(members)))].append(principal)

    batches = [
        AclBatch(
            principals=tuple(sorted(principals)),
            operations=tuple(sorted(shape_ops)),
            resources=shape_resources,
            prefixed=shape_prefixed,
        )
        for (shape_prefixed, shape_ops, shape_resources), principals in principals_by_shape.items()
    ]
    return tuple(sorted(batches, key=lambda b: (b.principals, b.prefixed, b.resources)))


def expand_batch(batch: AclBatch) -> frozenset[AclGrant]:
    """The exact grants one AclCommand call creates (the inverse of `group_grants`)."""
    return frozenset(
        AclGrant(principal, rtype, name, operation, batch.prefixed)
        for principal in batch.principals
        for operation in batch.operations
        for rtype, name in batch.resources
    )


_RESOURCE_FLAGS = {
    ResourceType.TOPIC: "--topic",
    ResourceType.GROUP: "--group",
    ResourceType.TRANSACTIONAL_ID: "--transactional-id",
}


def acl_command_args(
    batch: AclBatch,
    *,
    action: Literal["add", "remove"],
    bootstrap: Endpoint,
    command_config: Path,
) -> tuple[str, ...]:
    """Arguments after `org.apache.kafka.tools.AclCommand` for one batch."""
    args: list[str] = [
        "--bootstrap-server",
        str(bootstrap),
        "--command-config",
        str(command_config),
        f"--{action}",
        "--resource-pattern-type",
        "prefixed" if batch.prefixed else "literal",
    ]
    if action == "remove":
        args.append("--force")  # AclCommand otherwise asks for confirmation on stdin.
    for principal in batch.principals:
        args += ["--allow-principal", f"User:{principal}"]
    for operation in batch.operations:
        args += ["--operation", operation.value]
    for rtype, name in batch.resources:
        if rtype is ResourceType.CLUSTER:
            if name != CLUSTER_RESOURCE_NAME or batch.prefixed:
                raise StackConfigError(f"cluster ACLs must name {CLUSTER_RESOURCE_NAME!r}")
            args.append("--cluster")
        else:
            args += [_RESOURCE_FLAGS[rtype], name]
    return tuple(args)


def _grant_key(grant: AclGrant) -> tuple[str, str, str, str, bool]:
    return (
        grant.principal,
        grant.resource_type.value,
        grant.resource_name,
        grant.operation.value,
        grant.prefixed,
    )


def encode_grants(grants: Iterable[AclGrant]) -> str:
    """The marker file body: the applied grant set, sorted, plus its digest."""
    rows = sorted({_grant_key(g) for g in grants})
    return json.dumps({"digest": _digest(rows), "grants": rows}, indent=1) + "\n"


def decode_grants(text: str) -> frozenset[AclGrant]:
    rows = json.loads(text)["grants"]
    return frozenset(
        AclGrant(p, ResourceType(rt), name, Operation(op), bool(prefixed))
        for p, rt, name, op, prefixed in rows
    )


def _digest(rows: list[tuple[str, str, str, str, bool]]) -> str:
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def grants_digest(grants: Iterable[AclGrant]) -> str:
    return _digest(sorted({_grant_key(g) for g in grants}))


def diff_grants(
    applied: Iterable[AclGrant], wanted: Iterable[AclGrant]
) -> tuple[frozenset[AclGrant], frozenset[AclGrant]]:
    """(to add, to remove) so the broker ends with exactly `wanted`: least privilege also
    means taking rights away when a subscriber leaves the topology."""
    applied_set, wanted_set = frozenset(applied), frozenset(wanted)
    return wanted_set - applied_set, applied_set - wanted_set


def redact_secrets(text: str, secrets: Iterable[str]) -> str:
    """Blank out known secrets and anything shaped like a JAAS password before showing logs."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return re.sub(r'(password\s*=\s*)("?)(?!\[)[^"\s,;\]]+', r"\1\2[redacted]", text)


def failure_excerpt(output: str, max_lines: int = 10) -> str:
    """The part of a tool's output that explains a failure: from the last command echoed
    (`$ ...`) up to, not including, the option table Kafka's tools print after usage errors."""
    lines = output.rstrip().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    picked = lines[starts[-1] :] if starts else lines[-max_lines:]
    for i, line in enumerate(picked):
        if line.startswith("Option") and "Description" in line:
            picked = picked[:i]
            break
    return "\n".join(picked[:max_lines])
