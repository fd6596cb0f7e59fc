"""The local stack, orchestrated: `up`, `status` and `down` over Kafka and OPA.

`StackRunner(settings).up()` brings a KRaft Kafka node and an OPA server up on loopback and
provisions them from the topology; `.status()` and `.down()` look after them afterwards. The
pieces live beside this module: processes.py (pidfiles, starting, stopping, health waits; only
processes this stack started are ever signalled), kafka_broker.py and kafka_tools.py (format,
broker, SCRAM users, ACLs, topics, the TLS listener), opa_server.py (the signed-bundle service,
OPA, its TLS and token), credentials.py, and config.py (pure rendering of every file and
command line).

State under data_dir:  kafka/ (log dirs, server.properties, internal credentials, markers),
credentials/<principal>.json, run/<component>.pid, logs/<component>.log, logs/kafka-tools.log,
policy-bundles/ (signed releases), keys/policy/ (IG signing key), opa/ (OPA's config file,
its persisted last verified bundle and, for an https OPA, its bearer token), tls/ (the
stack's CA certificate and the 127.0.0.1/localhost server certificate; its key 0600).

TLS: Kafka always has a second listener, SASL_SSL on SAFEHUB_KAFKA_TLS_BOOTSTRAP (default
127.0.0.1:19094), presenting the stack's certificate; clients use it with
SAFEHUB_KAFKA_SECURITY_PROTOCOL=SASL_SSL. An https:// SAFEHUB_OPA_URL starts OPA with TLS and
bearer-token authentication (services/stack/opa/system/authz/authz.rego).
"""

from __future__ import annotations

import datetime as dt
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from services.childindex.secret import provision_linkage_secret
from services.hubkit.envelope import provision_keys
from services.hubkit.private_files import (
    exclusive_lock,
    private_dir,
    write_atomically,
    write_private,
)
from services.hubkit.retention import RetentionInvalid, RetentionRules
from services.hubkit.settings import HubSettings
from services.hubkit.topology import (
    CONSOLE_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    Topology,
    load_topology,
)
from services.stack.artifacts import ensure_kafka_libs, ensure_opa, require_tool
from services.stack.certificates import issue_local_certificates, needs_reissue
from services.stack.config import StackLayout
from services.stack.credentials import StackCredentials
from services.stack.errors import StackConfigError
from services.stack.kafka_broker import KAFKA, KAFKA_STOP_TIMEOUT_S, AclReport, KafkaBroker
from services.stack.kafka_tools import KafkaTools
from services.stack.opa_server import (
    BUNDLE_SERVER,
    BUNDLE_SERVER_STOP_TIMEOUT_S,
    OPA,
    OPA_STOP_TIMEOUT_S,
    OpaServer,
)
from services.stack.processes import Progress, StackProcesses, send_sigterm

__all__ = [
    "AclReport",
    "ComponentState",
    "ComponentStatus",
    "StackRunner",
    "StackStatus",
    "UpReport",
]

_STOP_TIMEOUT_S = {
    OPA: OPA_STOP_TIMEOUT_S,
    BUNDLE_SERVER: BUNDLE_SERVER_STOP_TIMEOUT_S,
    KAFKA: KAFKA_STOP_TIMEOUT_S,
}


class ComponentState(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    state: ComponentState
    pid: int | None
    endpoint: str
    detail: str = ""

    def line(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "pid -"
        text = f"{self.name:<6} {self.state.value:<9} {pid:<10} {self.endpoint}"
        return f"{text}  ({self.detail})" if self.detail else text


@dataclass(frozen=True, slots=True)
class StackStatus:
    components: tuple[ComponentStatus, ...]

    @property
    def healthy(self) -> bool:
        return all(c.state is ComponentState.HEALTHY for c in self.components)

    def component(self, name: str) -> ComponentStatus:
        return next(c for c in self.components if c.name == name)


@dataclass(slots=True)
class UpReport:
    """What one `up` did; timings in seconds."""

    formatted: bool = False
    kafka_started: bool = False
    opa_started: bool = False
    bundle_published: str | None = None
    """The revision `up` published from the working tree, if it had to."""
    kafka_ready_s: float = 0.0
    scram_added: tuple[str, ...] = ()
    scram_removed: tuple[str, ...] = ()
    acls: AclReport = field(default_factory=lambda: AclReport(skipped=True))
    topics_created: tuple[str, ...] = ()
    total_s: float = 0.0

    @property
    def changed(self) -> bool:
        return (
            self.formatted
            or self.kafka_started
            or self.opa_started
            or self.bundle_published is not None
            or bool(self.scram_added or self.scram_removed or self.topics_created)
            or not self.acls.skipped
        )


def _component_status(
    name: str, pid: int | None, reason: str | None, endpoint: str, *, healthy_detail: str = ""
) -> ComponentStatus:
    if pid is None:
        # Something healthy on our port that we did not start is still not "our" stack.
        detail = "not started by this stack" if reason is None else ""
        return ComponentStatus(name, ComponentState.DOWN, None, endpoint, detail)
    if reason is None:
        return ComponentStatus(name, ComponentState.HEALTHY, pid, endpoint, healthy_detail)
    return ComponentStatus(name, ComponentState.UNHEALTHY, pid, endpoint, reason)


class StackRunner:
    """Brings the local Kafka + OPA stack up, reports on it and takes it down."""

    def __init__(
        self,
        settings: HubSettings,
        *,
        progress: Progress | None = None,
        tool_parallelism: int | None = None,
    ) -> None:
        self._settings = settings
        self._progress: Progress = progress or (lambda _: None)
        self._layout = StackLayout(
            data_dir=settings.data_dir,
            cache_dir=settings.cache_dir,
            credentials_dir=settings.credentials_dir,
        )
        self._credentials = StackCredentials(self._layout)
        self._processes = StackProcesses(
            self._layout, self._progress, self._credentials.redacted_tail
        )
        self._kafka = KafkaBroker(
            settings, self._layout, self._processes, self._credentials, self._progress
        )
        self._opa = OpaServer(
            settings, self._layout, self._processes, self._credentials, self._progress
        )
        # JVM launches are CPU-bound start-ups; more than a few at once only queue up.
        self._tool_parallelism = tool_parallelism or max(2, min(4, os.cpu_count() or 2))

    @property
    def layout(self) -> StackLayout:
        return self._layout

    # --- public API ------------------------------------------------------------------------

    def up(self, *, fresh: bool = False) -> UpReport:
        """Idempotent: start what is not running, provision what is missing, then return."""
        started = time.monotonic()
        report = UpReport()
        with exclusive_lock(self._layout.lock_file):
            topology = self._topology()
            retention = self._retention()
            if fresh:
                self._kafka.wipe(topology)
            # The state directory and its logs hold personal data (notices, broker logs):
            # owner only, even where an older run or another umask made them readable.
            private_dir(self._layout.data_dir)
            private_dir(self._layout.logs_dir)
            private_dir(self._layout.kafka_dir)
            private_dir(self._layout.credentials_dir)
            self._ensure_certificates()
            java = require_tool("java")
            # On a fresh machine the Maven download and the OPA build take a while: overlap them.
            with ThreadPoolExecutor(max_workers=2) as pool:
                libs_job = pool.submit(ensure_kafka_libs, self._settings, self._progress)
                opa_job = pool.submit(ensure_opa, self._settings, self._progress)
                libs, opa = libs_job.result(), opa_job.result()
            tools = KafkaTools(
                java=java,
                libs=libs,
                log_path=self._kafka.tools_log,
                redact=self._credentials.redact,
                parallelism=self._tool_parallelism,
            )
            report.formatted = self._kafka.ensure_formatted(tools, topology)
            self._kafka.write_server_properties()

            self._opa.preflight()
            report.bundle_published = self._opa.ensure_published_bundle(opa)
            opa_command = self._opa.command(opa)
            kafka_pid, report.kafka_started = self._kafka.ensure_process(java, libs)
            self._opa.ensure_bundle_server()
            opa_pid, report.opa_started = self._opa.ensure_process(opa_command)

            ready_from = time.monotonic()
            self._kafka.wait_healthy(kafka_pid)
            report.kafka_ready_s = time.monotonic() - ready_from
            if report.kafka_started:
                self._progress(
                    f"kafka: healthy on {self._kafka.client} in {report.kafka_ready_s:.1f}s"
                )

            self._kafka.write_tool_client_config()
            report.scram_added, report.scram_removed = self._kafka.sync_scram_users(tools, topology)
            report.acls = self._kafka.sync_acls(tools, topology.acl_grants())
            report.topics_created = self._kafka.ensure_topics(topology, retention)
            self._provision_signing_material(topology)
            self._opa.wait_healthy(opa_pid)
            self._opa.wait_revision(opa_pid)
        report.total_s = time.monotonic() - started
        return report

    def status(self) -> StackStatus:
        kafka_pid = self._kafka.pid(remove_stale=False)
        opa_pid = self._opa.pid(remove_stale=False)
        kafka_reason = self._kafka.unhealthy_reason(timeout_s=3.0)
        opa_reason = self._opa.unhealthy_reason(timeout_s=2.0)
        revision = self.served_revision() if opa_reason is None else None
        kafka_endpoint = f"{self._kafka.client} SASL/SCRAM, {self._kafka.tls_client} SASL_SSL"
        kafka = _component_status(
            KAFKA, kafka_pid, kafka_reason, kafka_endpoint, healthy_detail=self._kafka.tls_note()
        )
        opa = _component_status(
            OPA,
            opa_pid,
            opa_reason,
            self._settings.opa_url,
            healthy_detail=f"bundle {revision}" if revision else "",
        )
        return StackStatus((kafka, opa))

    def down(self) -> tuple[str, ...]:
        """Stop the processes this stack started; returns one line per component."""
        lines: list[str] = []
        with exclusive_lock(self._layout.lock_file):
            pids = {
                OPA: self._opa.pid(),
                BUNDLE_SERVER: self._opa.bundle_server_pid(),
                KAFKA: self._kafka.pid(),
            }
            for pid in pids.values():
                if pid is not None:
                    send_sigterm(pid)  # all of them shut down at the same time
            for name, pid in pids.items():
                if pid is None:
                    if name != BUNDLE_SERVER:  # part of `opa`; only mentioned when it was running
                        lines.append(f"{name}: not running")
                    continue
                killed = self._processes.stop(name, pid, _STOP_TIMEOUT_S[name])
                how = "killed after timeout" if killed else "stopped"
                lines.append(f"{name}: {how} (pid {pid})")
        return tuple(lines)

    def served_revision(self, timeout_s: float = 2.0) -> str | None:
        """The bundle revision OPA serves now (from `?provenance=true`), None if unknown."""
        return self._opa.served_revision(timeout_s)

    def credential_file(self, principal: str) -> Path:
        return self._layout.credential_file(principal)

    # --- steps ------------------------------------------------------------------------------

    def _topology(self) -> Topology:
        try:
            return load_topology(self._settings.policies_dir)
        except (FileNotFoundError, KeyError, ValueError) as error:
            raise StackConfigError(
                f"cannot read agencies/subscribers from {self._settings.policies_dir} "
                f"({type(error).__name__}: {error}); set SAFEHUB_POLICIES_DIR"
            ) from None

    def _retention(self) -> RetentionRules:
        """The IG-owned retention rules, read before anything starts: topics are created with
        the retention they give, and a file that cannot be applied stops `up` here."""
        try:
            return RetentionRules.load(self._settings.policies_dir)
        except RetentionInvalid as error:
            raise StackConfigError(str(error)) from None

    def _provision_signing_material(self, topology: Topology) -> None:
        """Ed25519 keys for every signer (adapters, the hub, the console's access events) and
        the linkage secret (read by the child index only)."""
        signers = (GATEWAY_PRINCIPAL, CONSOLE_PRINCIPAL, *(a.principal for a in topology.agencies))
        provision_keys(self._settings.keys_dir, signers)
        provision_linkage_secret(self._settings.keys_dir / "linkage.secret")

    def _ensure_certificates(self) -> None:
        """The stack's CA and server certificate (and Kafka's PEM keystore), made once and
        reissued only when about to expire or not covering 127.0.0.1 / localhost.

        A reissue does not restart a running Kafka or OPA: they keep the certificate they
        loaded until the next `safehub stack down && safehub stack up`."""
        layout = self._layout
        private_dir(layout.tls_dir)
        now = dt.datetime.now(dt.UTC)
        chain = layout.server_certificate
        complete = all(p.is_file() for p in (layout.ca_certificate, chain, layout.server_key))
        reissued = not complete or needs_reissue(chain.read_text(), now)
        if reissued:
            issued = issue_local_certificates(now)
            write_private(layout.server_key, issued.server_key)
            write_atomically(layout.server_certificate, issued.server_chain)
            write_atomically(layout.ca_certificate, issued.ca_certificate)
            self._progress(f"tls: issued the stack's CA and server certificate in {layout.tls_dir}")
        self._kafka.ensure_keystore(stale=reissued)
