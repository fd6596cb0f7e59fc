"""The stack's Kafka node: log directory, broker process, SCRAM users, ACLs and topics.

One KRaft node in combined mode on loopback, with a SASL_PLAINTEXT listener and a SASL_SSL one
(the TLS listener presents the stack's certificate from a PEM keystore). Provisioning follows
the topology: every principal gets a SCRAM credential, its least-privilege ACLs and its topics;
markers under kafka/ record what was applied so a repeated `up` does nothing.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.hubkit.errors import TlsMaterialMissing
from services.hubkit.private_files import write_atomically, write_private
from services.hubkit.retention import RetentionRules
from services.hubkit.settings import HubSettings
from services.hubkit.tls import client_ssl_context
from services.hubkit.topology import ADMIN_PRINCIPAL, AclGrant, Topology
from services.stack import config
from services.stack.artifacts import ensure_acl_batch_runner
from services.stack.config import (
    BROKER_USER,
    CONTROLLER_USER,
    SCRAM_MECHANISM,
    AclBatch,
    Endpoint,
    StackLayout,
    TopicSpec,
)
from services.stack.credentials import StackCredentials, new_secret
from services.stack.errors import KafkaToolFailed, PortInUse, TopicSetupFailed
from services.stack.kafka_tools import ACL_TOOL, CONFIG_TOOL, STORAGE_TOOL, KafkaTools, ToolJob
from services.stack.processes import ProcessSignature, Progress, StackProcesses, port_open

__all__ = [
    "KAFKA",
    "KAFKA_START_TIMEOUT_S",
    "KAFKA_STOP_TIMEOUT_S",
    "AclReport",
    "KafkaBroker",
]

KAFKA = "kafka"
KAFKA_START_TIMEOUT_S = 60.0
KAFKA_STOP_TIMEOUT_S = 30.0
_TOPIC_ALREADY_EXISTS = 36

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AclReport:
    skipped: bool
    added: int = 0
    removed: int = 0
    calls: int = 0
    launches: int = 0
    seconds: float = 0.0


def _run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, even when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _admin(
    endpoint: Endpoint,
    username: str,
    password: str,
    timeout_s: float,
    ssl_context: ssl.SSLContext | None = None,
) -> Any:
    tls: dict[str, Any] = {"security_protocol": "SASL_PLAINTEXT"}
    if ssl_context is not None:
        tls = {"security_protocol": "SASL_SSL", "ssl_context": ssl_context}
    return AIOKafkaAdminClient(
        bootstrap_servers=str(endpoint),
        client_id="safehub-stack",
        request_timeout_ms=int(timeout_s * 1000),
        sasl_mechanism=SCRAM_MECHANISM,
        sasl_plain_username=username,
        sasl_plain_password=password,
        **tls,
    )


async def _kafka_probe(
    endpoint: Endpoint,
    username: str,
    password: str,
    timeout_s: float,
    ssl_context: ssl.SSLContext | None = None,
) -> str | None:
    """None when the broker answers an authenticated metadata request, else why not.

    Metadata needs no ACL, so this works before the ACLs exist and proves SCRAM end to end
    (and, with `ssl_context`, TLS to a broker whose certificate the stack's CA signed).
    """
    if not port_open(endpoint, timeout_s=min(1.0, timeout_s)):
        return f"nothing accepts connections on {endpoint}"
    client = _admin(endpoint, username, password, timeout_s, ssl_context)
    try:
        await asyncio.wait_for(client.start(), timeout_s)
        cluster = await asyncio.wait_for(client.describe_cluster(), timeout_s)
    except Exception as error:  # any failure here only means "not healthy yet"
        return f"metadata request failed: {type(error).__name__}"
    finally:
        await client.close()
    if not cluster.get("brokers"):
        return "no broker registered yet"
    return None


async def _create_missing_topics(
    endpoint: Endpoint, username: str, password: str, specs: Sequence[TopicSpec]
) -> tuple[str, ...]:
    client = _admin(endpoint, username, password, 30.0)
    try:
        await client.start()
        existing = set(await client.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return ()
        response = await client.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.config))
                for s in missing
            ],
            timeout_ms=30_000,
        )
    finally:
        await client.close()
    failed = [
        f"{row[0]} (error {row[1]})"
        for row in response.topic_errors
        if row[1] not in (0, _TOPIC_ALREADY_EXISTS)
    ]
    if failed:
        raise TopicSetupFailed(
            f"kafka: could not create topics {', '.join(failed)}; "
            f"check that {username!r} has Create on the cluster (see logs/kafka.log)"
        )
    return tuple(s.name for s in missing)


def _batch_label(action: str, batch: AclBatch) -> str:
    names = ",".join(name for _, name in batch.resources)
    return f"{action} {'+'.join(batch.principals)} {'/'.join(batch.operations)} on {names}"


class KafkaBroker:
    """The local KRaft node under one layout, provisioned from the topology."""

    def __init__(
        self,
        settings: HubSettings,
        layout: StackLayout,
        processes: StackProcesses,
        credentials: StackCredentials,
        progress: Progress,
    ) -> None:
        self._settings = settings
        self._layout = layout
        self._processes = processes
        self._credentials = credentials
        self._progress = progress
        self.client = config.parse_loopback_endpoint(
            settings.kafka_bootstrap, setting="SAFEHUB_KAFKA_BOOTSTRAP"
        )
        self.controller = Endpoint(self.client.host, settings.kafka_controller_port)
        self.tls_client = config.parse_loopback_endpoint(
            settings.kafka_tls_bootstrap, setting="SAFEHUB_KAFKA_TLS_BOOTSTRAP"
        )

    @property
    def signature(self) -> ProcessSignature:
        """The broker is ours when it runs kafka.Kafka on this layout's server.properties."""
        return ProcessSignature(arguments=("kafka.Kafka",), paths=(self._layout.server_properties,))

    @property
    def tools_log(self) -> Path:
        return self._layout.log_file("kafka-tools")

    def pid(self, *, remove_stale: bool = True) -> int | None:
        return self._processes.our_pid(KAFKA, self.signature, remove_stale=remove_stale)

    # --- state ----------------------------------------------------------------------------------

    def wipe(self, topology: Topology) -> None:
        """Stop the broker and delete its log directory and every credential (`--fresh`)."""
        pid = self.pid()
        if pid is not None:
            self._progress(f"kafka: stopping pid {pid} for --fresh")
            self._processes.stop(KAFKA, pid, KAFKA_STOP_TIMEOUT_S)
        principals = set(topology.principals) | set(self._provisioned_users())
        for principal in principals:
            self._layout.credential_file(principal).unlink(missing_ok=True)
        shutil.rmtree(self._layout.kafka_dir, ignore_errors=True)
        self._progress(f"kafka: wiped {self._layout.kafka_dir} and the stack's credentials")

    def ensure_keystore(self, *, stale: bool) -> None:
        """Kafka's PEM keystore (key and chain in one 0600 file) from the stack's certificate."""
        layout = self._layout
        if stale:
            layout.kafka_keystore.unlink(missing_ok=True)
        if not layout.kafka_keystore.is_file():
            write_private(
                layout.kafka_keystore,
                config.render_pem_keystore(
                    private_key_pem=layout.server_key.read_text(),
                    certificate_chain_pem=layout.server_certificate.read_text(),
                ),
            )

    def ensure_formatted(self, tools: KafkaTools, topology: Topology) -> bool:
        if self._layout.meta_properties.exists():
            return False
        path = self._layout.internal_credentials
        if not path.exists():
            write_private(
                path,
                json.dumps({BROKER_USER: new_secret(), CONTROLLER_USER: new_secret()}) + "\n",
            )
        self.write_server_properties()
        passwords = {p: self._credentials.principal_password(p) for p in topology.principals}
        passwords[BROKER_USER] = self._credentials.internal_secrets()[BROKER_USER]
        cluster_id = config.cluster_id_from_bytes(secrets.token_bytes(16))
        args = config.storage_format_args(
            cluster_id=cluster_id,
            server_properties=self._layout.server_properties,
            scram_passwords=passwords,
        )
        self._progress(f"kafka: formatting {self._layout.kafka_log_dir} (cluster {cluster_id})")
        ok, output = tools.run(STORAGE_TOOL, args)
        if not ok:
            raise KafkaToolFailed(
                "StorageTool",
                "formatting the log directory",
                tools.log_path,
                config.failure_excerpt(output),
            )
        write_atomically(self._layout.scram_marker, json.dumps(sorted(topology.principals)) + "\n")
        return True

    def write_server_properties(self) -> None:
        internal = self._credentials.internal_secrets()
        text = config.render_server_properties(
            config.KafkaServerConfig(
                client=self.client,
                controller_port=self.controller.port,
                log_dir=self._layout.kafka_log_dir,
                broker_password=internal[BROKER_USER],
                controller_password=internal[CONTROLLER_USER],
                tls_client=self.tls_client,
                tls_keystore=self._layout.kafka_keystore,
            )
        )
        path = self._layout.server_properties
        if not path.exists() or path.read_text() != text:
            write_private(path, text)

    def write_tool_client_config(self) -> None:
        # Kafka's CLI tools run as `broker`, a super user by configuration. The ACLs are what
        # gives `admin` its rights, so running the tools as admin would need admin's own grant
        # first and could lock the stack out of its ACLs if that grant were ever narrowed.
        broker_password = self._credentials.internal_secrets()[BROKER_USER]
        text = config.render_client_properties(BROKER_USER, broker_password)
        path = self._layout.tool_client_properties
        if not path.exists() or path.read_text() != text:
            write_private(path, text)

    # --- process and health ---------------------------------------------------------------------

    def ensure_process(self, java: str, libs: Path) -> tuple[int, bool]:
        """The broker's pid and whether it was started just now."""
        pid = self.pid()
        if pid is not None:
            return pid, False
        for endpoint, setting in (
            (self.client, "SAFEHUB_KAFKA_BOOTSTRAP"),
            (self.controller, "SAFEHUB_KAFKA_CONTROLLER_PORT"),
            (self.tls_client, "SAFEHUB_KAFKA_TLS_BOOTSTRAP"),
        ):
            if port_open(endpoint):
                raise PortInUse("kafka", str(endpoint), setting)
        argv = config.kafka_server_argv(
            java=java, libs_dir=libs, server_properties=self._layout.server_properties
        )
        return self._processes.start(KAFKA, argv), True

    def wait_healthy(self, pid: int) -> None:
        self._processes.wait_until_healthy(KAFKA, pid, KAFKA_START_TIMEOUT_S, self.unhealthy_reason)

    def unhealthy_reason(self, timeout_s: float) -> str | None:
        try:
            credential = json.loads(self._layout.credential_file(ADMIN_PRINCIPAL).read_text())
            password = str(credential["password"])
        except (FileNotFoundError, ValueError, KeyError):
            return "no admin credential yet"
        if self._settings.kafka_security_protocol == "SASL_SSL":
            # The services connect over TLS: healthy means that path works.
            try:
                context = client_ssl_context(self._settings.trusted_ca_file)
            except TlsMaterialMissing as error:
                return str(error)
            return _run_async(
                lambda: _kafka_probe(self.tls_client, ADMIN_PRINCIPAL, password, timeout_s, context)
            )
        return _run_async(lambda: _kafka_probe(self.client, ADMIN_PRINCIPAL, password, timeout_s))

    def tls_note(self) -> str:
        """Why a healthy broker has no TLS listener, or "" when it has one."""
        if port_open(self.tls_client):
            return ""
        return (
            f"no SASL_SSL listener on {self.tls_client}: the broker was started before it "
            "existed; `safehub stack down && safehub stack up` adds it"
        )

    # --- SCRAM users, ACLs, topics ----------------------------------------------------------------

    def _provisioned_users(self) -> list[str]:
        try:
            return list(json.loads(self._layout.scram_marker.read_text()))
        except FileNotFoundError:
            return []

    def sync_scram_users(
        self, tools: KafkaTools, topology: Topology
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Give principals added to the topology since the format a SCRAM credential, and
        withdraw the credentials of principals that left it."""
        provisioned = set(self._provisioned_users())
        wanted = set(topology.principals)
        to_add, to_remove = sorted(wanted - provisioned), sorted(provisioned - wanted)
        if not to_add and not to_remove:
            return (), ()
        command_config = self._layout.tool_client_properties
        jobs: list[ToolJob] = []
        temp_files: list[Path] = []
        for principal in to_add:
            config_file = self._layout.kafka_dir / f".scram-{principal}.properties"
            write_private(
                config_file,
                config.render_scram_config_file(self._credentials.principal_password(principal)),
            )
            temp_files.append(config_file)
            add_args = config.config_command_add_scram_args(
                bootstrap=self.client,
                command_config=command_config,
                principal=principal,
                config_file=config_file,
            )
            jobs.append((f"add {principal}", add_args))
        for principal in to_remove:
            remove_args = config.config_command_delete_scram_args(
                bootstrap=self.client, command_config=command_config, principal=principal
            )
            jobs.append((f"remove {principal}", remove_args))
        try:
            failed = tools.run_parallel(CONFIG_TOOL, jobs)
        finally:
            for path in temp_files:
                path.unlink(missing_ok=True)
        if failed:
            labels = ", ".join(label for label, _ in failed)
            raise KafkaToolFailed(
                "ConfigCommand",
                f"updating SCRAM users ({labels})",
                tools.log_path,
                config.failure_excerpt(failed[0][1]),
            )
        for principal in to_remove:
            self._layout.credential_file(principal).unlink(missing_ok=True)
        write_atomically(self._layout.scram_marker, json.dumps(sorted(wanted)) + "\n")
        if to_add:
            self._progress(f"kafka: SCRAM credentials added for {', '.join(to_add)}")
        if to_remove:
            self._progress(f"kafka: SCRAM credentials removed for {', '.join(to_remove)}")
        return tuple(to_add), tuple(to_remove)

    def sync_acls(self, tools: KafkaTools, grants: Iterable[AclGrant]) -> AclReport:
        wanted = frozenset(grants)
        marker = self._layout.acl_marker
        applied: frozenset[AclGrant] = frozenset()
        if marker.exists():
            if json.loads(marker.read_text())["digest"] == config.grants_digest(wanted):
                return AclReport(skipped=True)
            applied = config.decode_grants(marker.read_text())
        to_add, to_remove = config.diff_grants(applied, wanted)
        started = time.monotonic()
        jobs: list[ToolJob] = []
        action: Literal["add", "remove"]
        for action, subset in (("add", to_add), ("remove", to_remove)):
            for batch in config.group_grants(subset):
                args = config.acl_command_args(
                    batch,
                    action=action,
                    bootstrap=self.client,
                    command_config=self._layout.tool_client_properties,
                )
                jobs.append((_batch_label(action, batch), args))
        launches = self._run_acl_jobs(tools, jobs)
        write_atomically(marker, config.encode_grants(wanted))
        report = AclReport(
            skipped=False,
            added=len(to_add),
            removed=len(to_remove),
            calls=len(jobs),
            launches=launches,
            seconds=time.monotonic() - started,
        )
        self._progress(
            f"acls: +{report.added} -{report.removed} grants in {report.calls} AclCommand calls, "
            f"{report.launches} JVM launch(es), {report.seconds:.1f}s"
        )
        return report

    def _run_acl_jobs(self, tools: KafkaTools, jobs: Sequence[ToolJob]) -> int:
        """Run the AclCommand calls; returns how many JVMs that took."""
        if not jobs:
            return 0
        batch_classes = ensure_acl_batch_runner(self._settings, tools.libs, self._progress)
        if batch_classes is None:
            failed = tools.run_parallel(ACL_TOOL, jobs)
            launches = len(jobs)
        else:
            jobs_file = self._layout.kafka_dir / "acl-jobs.tsv"
            write_atomically(jobs_file, config.render_acl_batch_jobs(args for _, args in jobs))
            ok, output = tools.run(
                config.ACL_BATCH_CLASS, [str(jobs_file)], extra_classpath=batch_classes
            )
            failed = [] if ok else [(f"{len(jobs)} calls in one JVM", output)]
            launches = 1
        if failed:
            raise KafkaToolFailed(
                "AclCommand",
                f"applying ACLs ({'; '.join(label for label, _ in failed)})",
                tools.log_path,
                config.failure_excerpt(failed[0][1]),
            )
        return launches

    def ensure_topics(
        self,
        topology: Topology,
        retention: RetentionRules,
        *,
        replication_factor: int = 1,
        min_insync_replicas: int = 1,
    ) -> tuple[str, ...]:
        """Create missing topics with their settings; an existing topic is left as it is.
        A cluster (services/stack/cluster.py) passes its replication factor and min ISR."""
        password = self._credentials.principal_password(ADMIN_PRINCIPAL)
        specs = config.topic_specs(topology, retention)
        if replication_factor > 1:
            specs = config.replicated_topic_specs(
                specs,
                replication_factor=replication_factor,
                min_insync_replicas=min_insync_replicas,
            )
        created = _run_async(
            lambda: _create_missing_topics(self.client, ADMIN_PRINCIPAL, password, specs)
        )
        if created:
            self._progress(f"topics: created {len(created)} ({', '.join(created)})")
        return created
