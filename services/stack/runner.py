"""The edge of the local stack: processes, pidfiles, health checks, credentials, ACLs, topics.

`StackRunner(settings).up()` brings a KRaft Kafka node and an OPA server up on loopback and
provisions them from the topology; `.status()` and `.down()` look after them afterwards. Only
processes this stack started are ever signalled: a pidfile counts only while the process it
names still has the command line we launched.

OPA loads only signed policy releases, from a loopback bundle service (a small Python
process, `opa-bundles`, reported as part of `opa`): `up` publishes the working tree's
policies/ when it differs from the latest release, and OPA verifies every release's
signature before activating it (see services/policy/publish.py and policies/README.md).

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

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.childindex.secret import provision_linkage_secret
from services.hubkit.envelope import provision_keys
from services.hubkit.errors import TlsMaterialMissing
from services.hubkit.settings import HubSettings
from services.hubkit.tls import client_ssl_context, opa_auth_headers, opa_ssl_context
from services.hubkit.topology import (
    ADMIN_PRINCIPAL,
    CONSOLE_PRINCIPAL,
    GATEWAY_PRINCIPAL,
    AclGrant,
    Topology,
    load_topology,
)
from services.policy.bundle import BUNDLE_NAME, revision_from_provenance
from services.policy.errors import PolicyToolError
from services.policy.publish import BundleStore, PublishResult, publish_bundle
from services.policy.settings import PolicySettings
from services.policy.signing import SIGNING_ALGORITHM, provision_ig_signing_key
from services.stack import config
from services.stack.artifacts import (
    ensure_acl_batch_runner,
    ensure_kafka_libs,
    ensure_opa,
    file_lock,
    log_tail,
    require_tool,
)
from services.stack.certificates import issue_local_certificates, needs_reissue
from services.stack.config import (
    BROKER_USER,
    CONTROLLER_USER,
    SCRAM_MECHANISM,
    AclBatch,
    Endpoint,
    StackLayout,
    TopicSpec,
)
from services.stack.errors import (
    ComponentUnhealthy,
    KafkaToolFailed,
    PortInUse,
    StackConfigError,
    TopicSetupFailed,
)

__all__ = [
    "AclReport",
    "ComponentState",
    "ComponentStatus",
    "StackRunner",
    "StackStatus",
    "UpReport",
]

KAFKA_START_TIMEOUT_S = 60.0
OPA_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = {"kafka": 30.0, "opa": 10.0, "opa-bundles": 5.0}
# Policy evaluation allocates heavily and OPA's heap is small (tens of MB): collecting at 4x
# the live heap instead of Go's default 2x cut OPA's CPU per decision by about a quarter
# (3.9 -> 2.9 ms per notice, batches of 16). An operator's own GOGC wins.
_OPA_ENVIRONMENT = {"GOGC": os.environ.get("GOGC", "400")}
# OPA's API authorisation policy for an https OPA (package system.authz, with its tests).
_OPA_AUTHZ_POLICY = Path(__file__).with_name("opa") / "system" / "authz" / "authz.rego"
# The loopback bundle service OPA polls for the signed policy bundle; it lives and dies with
# OPA and is reported as part of the `opa` component.
_BUNDLES = "opa-bundles"
_TOOL_TIMEOUT_S = 120.0
_TOPIC_ALREADY_EXISTS = 36
_ACL_TOOL = "org.apache.kafka.tools.AclCommand"
_CONFIG_TOOL = "kafka.admin.ConfigCommand"
_STORAGE_TOOL = "kafka.tools.StorageTool"

T = TypeVar("T")
Progress = Callable[[str], None]


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


@dataclass(frozen=True, slots=True)
class AclReport:
    skipped: bool
    added: int = 0
    removed: int = 0
    calls: int = 0
    launches: int = 0
    seconds: float = 0.0


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


# --- process plumbing ------------------------------------------------------------------------


def _cmdline(pid: int) -> tuple[str, ...] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    parts = raw.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return tuple(p.decode(errors="replace") for p in parts) or None  # zombies have none


def _alive(pid: int) -> bool:
    try:
        # Reaps the process if this interpreter started it (tests run `up` in-process).
        reaped, _ = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return False
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _spawn_detached(
    argv: Sequence[str], log_path: Path, environment: Mapping[str, str] | None = None
) -> int:
    """Start `argv` in its own session with output appended to `log_path`; return its pid.

    posix_spawn rather than subprocess.Popen: a Popen object for a process that must outlive
    us warns "subprocess is still running" when collected, and the tests treat warnings as
    errors.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if log_path.exists():
        log_path.replace(log_path.with_name(log_path.name + ".1"))
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, str(log_path), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
        (os.POSIX_SPAWN_DUP2, 1, 2),
    ]
    return os.posix_spawn(
        argv[0],
        list(argv),
        {**os.environ, **(environment or {})},
        file_actions=file_actions,
        setsid=True,
    )


def _terminate(pid: int, timeout_s: float) -> bool:
    """SIGTERM, then SIGKILL after `timeout_s`; True when it had to be killed."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    for _ in range(50):
        if not _alive(pid):
            break
        time.sleep(0.1)
    return True


def _port_open(endpoint: Endpoint, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _private_dir(path: Path) -> None:
    """Directories holding secrets are readable by their owner only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    """Write a secret-bearing file as 0600 from the first byte, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, even when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _new_secret() -> str:
    return secrets.token_urlsafe(24)


# --- Kafka client calls --------------------------------------------------------------------


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
    if not _port_open(endpoint, timeout_s=min(1.0, timeout_s)):
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


# --- the runner ------------------------------------------------------------------------------


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
        self._kafka = config.parse_loopback_endpoint(
            settings.kafka_bootstrap, setting="SAFEHUB_KAFKA_BOOTSTRAP"
        )
        self._controller = Endpoint(self._kafka.host, settings.kafka_controller_port)
        self._kafka_tls = config.parse_loopback_endpoint(
            settings.kafka_tls_bootstrap, setting="SAFEHUB_KAFKA_TLS_BOOTSTRAP"
        )
        self._opa = config.parse_loopback_url(settings.opa_url, setting="SAFEHUB_OPA_URL")
        self._bundles = config.parse_loopback_endpoint(
            PolicySettings().bundle_server_addr, setting="SAFEHUB_POLICY_BUNDLE_SERVER_ADDR"
        )
        self._store = BundleStore.under(settings.data_dir)
        # JVM launches are CPU-bound start-ups; more than a few at once only queue up.
        self._tool_parallelism = tool_parallelism or max(2, min(4, os.cpu_count() or 2))
        self._tools_log_lock = threading.Lock()

    @property
    def layout(self) -> StackLayout:
        return self._layout

    # --- public API ------------------------------------------------------------------------

    def up(self, *, fresh: bool = False) -> UpReport:
        """Idempotent: start what is not running, provision what is missing, then return."""
        started = time.monotonic()
        report = UpReport()
        with file_lock(self._layout.lock_file):
            topology = self._topology()
            if fresh:
                self._wipe_kafka_state(topology)
            # The state directory and its logs hold personal data (notices, broker logs):
            # owner only, even where an older run or another umask made them readable.
            _private_dir(self._layout.data_dir)
            _private_dir(self._layout.logs_dir)
            _private_dir(self._layout.kafka_dir)
            _private_dir(self._layout.credentials_dir)
            self._ensure_certificates()
            java = require_tool("java")
            # On a fresh machine the Maven download and the OPA build take a while: overlap them.
            with ThreadPoolExecutor(max_workers=2) as pool:
                libs_job = pool.submit(ensure_kafka_libs, self._settings, self._progress)
                opa_job = pool.submit(ensure_opa, self._settings, self._progress)
                libs, opa = libs_job.result(), opa_job.result()
            report.formatted = self._ensure_formatted(java, libs, topology)
            self._write_server_properties()

            self._opa_preflight()
            report.bundle_published = self._ensure_published_bundle(opa)
            opa_argv = self._opa_argv(opa)
            kafka_pid, report.kafka_started = self._ensure_kafka_process(java, libs)
            self._ensure_bundle_server()
            opa_pid, report.opa_started = self._ensure_opa_process(opa_argv)

            ready_from = time.monotonic()
            self._wait_kafka(kafka_pid)
            report.kafka_ready_s = time.monotonic() - ready_from
            if report.kafka_started:
                self._progress(f"kafka: healthy on {self._kafka} in {report.kafka_ready_s:.1f}s")

            self._write_tool_client_config()
            report.scram_added, report.scram_removed = self._sync_scram_users(java, libs, topology)
            report.acls = self._sync_acls(java, libs, topology.acl_grants())
            report.topics_created = self._ensure_topics(topology)
            self._provision_signing_material(topology)
            self._wait_opa(opa_pid)
            self._wait_revision(opa_pid)
        report.total_s = time.monotonic() - started
        return report

    def status(self) -> StackStatus:
        kafka_pid = self._our_pid("kafka", remove_stale=False)
        opa_pid = self._our_pid("opa", remove_stale=False)
        kafka_reason = self._kafka_unhealthy_reason(timeout_s=3.0)
        opa_reason = self._opa_unhealthy_reason(timeout_s=2.0)
        revision = self.served_revision() if opa_reason is None else None
        kafka_endpoint = f"{self._kafka} SASL/SCRAM, {self._kafka_tls} SASL_SSL"
        return StackStatus(
            (
                self._component(
                    "kafka", kafka_pid, kafka_reason, kafka_endpoint,
                    healthy_detail=self._kafka_tls_note(),
                ),
                self._component(
                    "opa", opa_pid, opa_reason, self._settings.opa_url,
                    healthy_detail=f"bundle {revision}" if revision else "",
                ),
            )
        )  # fmt: skip

    def down(self) -> tuple[str, ...]:
        """Stop the processes this stack started; returns one line per component."""
        lines: list[str] = []
        with file_lock(self._layout.lock_file):
            pids = {name: self._our_pid(name) for name in ("opa", _BUNDLES, "kafka")}
            for pid in pids.values():
                if pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)  # both shut down at the same time
            for name, pid in pids.items():
                if pid is None:
                    if name != _BUNDLES:  # part of `opa`; only mentioned when it was running
                        lines.append(f"{name}: not running")
                    continue
                killed = _terminate(pid, _STOP_TIMEOUT_S[name])
                self._layout.pidfile(name).unlink(missing_ok=True)
                how = "killed after timeout" if killed else "stopped"
                lines.append(f"{name}: {how} (pid {pid})")
        return tuple(lines)

    def credential_file(self, principal: str) -> Path:
        return self._layout.credential_file(principal)

    # --- topology and secrets ----------------------------------------------------------------

    def _provision_signing_material(self, topology: Topology) -> None:
        """Ed25519 keys for every signer (adapters, the hub, the console's access events) and
        the linkage secret (read by the child index only)."""
        signers = (GATEWAY_PRINCIPAL, CONSOLE_PRINCIPAL, *(a.principal for a in topology.agencies))
        provision_keys(self._settings.keys_dir, signers)
        provision_linkage_secret(self._settings.keys_dir / "linkage.secret")

    def _topology(self) -> Topology:
        try:
            return load_topology(self._settings.policies_dir)
        except (FileNotFoundError, KeyError, ValueError) as error:
            raise StackConfigError(
                f"cannot read agencies/subscribers from {self._settings.policies_dir} "
                f"({type(error).__name__}: {error}); set SAFEHUB_POLICIES_DIR"
            ) from None

    def _internal_secrets(self) -> dict[str, str]:
        path = self._layout.internal_credentials
        try:
            data: dict[str, str] = json.loads(path.read_text())
        except FileNotFoundError:
            raise StackConfigError(
                f"kafka: {self._layout.kafka_log_dir} is formatted but {path} is missing; "
                "run `safehub stack up --fresh` to start over with new credentials"
            ) from None
        return data

    def _principal_password(self, principal: str) -> str:
        """The principal's password from its credential file, generating the file if absent."""
        path = self._layout.credential_file(principal)
        try:
            password = str(json.loads(path.read_text())["password"])
            return config.validate_secret(password)
        except FileNotFoundError:
            password = _new_secret()
            _write_private(path, config.render_credential(principal, password))
            return password

    def _known_secrets(self) -> list[str]:
        found: list[str] = []
        with contextlib.suppress(FileNotFoundError, ValueError):
            found += json.loads(self._layout.internal_credentials.read_text()).values()
        if self._layout.credentials_dir.is_dir():
            for path in self._layout.credentials_dir.glob("*.json"):
                try:
                    found.append(str(json.loads(path.read_text())["password"]))
                except (ValueError, KeyError, OSError):
                    continue
        return found

    def _redacted_tail(self, path: Path, lines: int = 15) -> str:
        return config.redact_secrets(log_tail(path, lines), self._known_secrets())

    # --- TLS material ---------------------------------------------------------------------------

    def _ensure_certificates(self) -> None:
        """The stack's CA and server certificate (and Kafka's PEM keystore), made once and
        reissued only when about to expire or not covering 127.0.0.1 / localhost.

        A reissue does not restart a running Kafka or OPA: they keep the certificate they
        loaded until the next `safehub stack down && safehub stack up`."""
        layout = self._layout
        _private_dir(layout.tls_dir)
        now = dt.datetime.now(dt.UTC)
        chain = layout.server_certificate
        complete = all(p.is_file() for p in (layout.ca_certificate, chain, layout.server_key))
        if not complete or needs_reissue(chain.read_text(), now):
            issued = issue_local_certificates(now)
            _write_private(layout.server_key, issued.server_key)
            _write_text(layout.server_certificate, issued.server_chain)
            _write_text(layout.ca_certificate, issued.ca_certificate)
            layout.kafka_keystore.unlink(missing_ok=True)
            self._progress(f"tls: issued the stack's CA and server certificate in {layout.tls_dir}")
        if not layout.kafka_keystore.is_file():
            _write_private(
                layout.kafka_keystore,
                config.render_pem_keystore(
                    private_key_pem=layout.server_key.read_text(),
                    certificate_chain_pem=layout.server_certificate.read_text(),
                ),
            )

    def _ensure_opa_token(self) -> bool:
        """OPA's bearer token (0600), generated once; True when it was just made."""
        path = self._settings.opa_token_path
        if path.is_file():
            return False
        _private_dir(path.parent)
        _write_private(path, _new_secret() + "\n")
        return True

    def _kafka_tls_note(self) -> str:
        if _port_open(self._kafka_tls):
            return ""
        return (
            f"no SASL_SSL listener on {self._kafka_tls}: the broker was started before it "
            "existed; `safehub stack down && safehub stack up` adds it"
        )

    # --- Kafka state --------------------------------------------------------------------------

    def _wipe_kafka_state(self, topology: Topology) -> None:
        pid = self._our_pid("kafka")
        if pid is not None:
            self._progress(f"kafka: stopping pid {pid} for --fresh")
            _terminate(pid, _STOP_TIMEOUT_S["kafka"])
            self._layout.pidfile("kafka").unlink(missing_ok=True)
        principals = set(topology.principals) | set(self._provisioned_users())
        for principal in principals:
            self._layout.credential_file(principal).unlink(missing_ok=True)
        shutil.rmtree(self._layout.kafka_dir, ignore_errors=True)
        self._progress(f"kafka: wiped {self._layout.kafka_dir} and the stack's credentials")

    def _ensure_formatted(self, java: str, libs: Path, topology: Topology) -> bool:
        if self._layout.meta_properties.exists():
            return False
        path = self._layout.internal_credentials
        if not path.exists():
            _write_private(
                path,
                json.dumps({BROKER_USER: _new_secret(), CONTROLLER_USER: _new_secret()}) + "\n",
            )
        self._write_server_properties()
        passwords = {p: self._principal_password(p) for p in topology.principals}
        passwords[BROKER_USER] = self._internal_secrets()[BROKER_USER]
        cluster_id = config.cluster_id_from_bytes(secrets.token_bytes(16))
        args = config.storage_format_args(
            cluster_id=cluster_id,
            server_properties=self._layout.server_properties,
            scram_passwords=passwords,
        )
        self._progress(f"kafka: formatting {self._layout.kafka_log_dir} (cluster {cluster_id})")
        ok, output = self._run_tool(java, libs, _STORAGE_TOOL, args)
        if not ok:
            raise KafkaToolFailed(
                "StorageTool",
                "formatting the log directory",
                self._tools_log,
                config.failure_excerpt(output),
            )
        _write_text(self._layout.scram_marker, json.dumps(sorted(topology.principals)) + "\n")
        return True

    def _write_server_properties(self) -> None:
        internal = self._internal_secrets()
        text = config.render_server_properties(
            config.KafkaServerConfig(
                client=self._kafka,
                controller_port=self._controller.port,
                log_dir=self._layout.kafka_log_dir,
                broker_password=internal[BROKER_USER],
                controller_password=internal[CONTROLLER_USER],
                tls_client=self._kafka_tls,
                tls_keystore=self._layout.kafka_keystore,
            )
        )
        path = self._layout.server_properties
        if not path.exists() or path.read_text() != text:
            _write_private(path, text)

    def _write_tool_client_config(self) -> None:
        # Kafka's CLI tools run as `broker`, a super user by configuration. The ACLs are what
        # gives `admin` its rights, so running the tools as admin would need admin's own grant
        # first and could lock the stack out of its ACLs if that grant were ever narrowed.
        text = config.render_client_properties(BROKER_USER, self._internal_secrets()[BROKER_USER])
        path = self._layout.tool_client_properties
        if not path.exists() or path.read_text() != text:
            _write_private(path, text)

    # --- Kafka tools --------------------------------------------------------------------------

    @property
    def _tools_log(self) -> Path:
        return self._layout.log_file("kafka-tools")

    def _run_tool(
        self,
        java: str,
        libs: Path,
        main_class: str,
        args: Sequence[str],
        *,
        extra_classpath: Path | None = None,
    ) -> tuple[bool, str]:
        """Run one tool JVM; (succeeded, its output with secrets redacted)."""
        argv = config.kafka_tool_argv(
            java=java, libs_dir=libs, main_class=main_class, args=args,
            extra_classpath=extra_classpath,
        )  # fmt: skip
        try:
            done = subprocess.run(
                argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=_TOOL_TIMEOUT_S, check=False,
            )  # fmt: skip
            output, ok = done.stdout + done.stderr, done.returncode == 0
        except subprocess.TimeoutExpired:
            output, ok = f"timed out after {_TOOL_TIMEOUT_S:.0f}s\n", False
        # Tool output is logged only after redaction: StorageTool echoes its arguments on error.
        shown = config.redact_secrets(
            f"$ {main_class} {' '.join(args)}\n{output}", self._known_secrets()
        )
        self._tools_log.parent.mkdir(parents=True, exist_ok=True)
        with self._tools_log_lock, self._tools_log.open("a") as log:
            log.write(shown if shown.endswith("\n") else shown + "\n")
        return ok, shown

    def _run_tools_parallel(
        self, java: str, libs: Path, main_class: str, jobs: Sequence[tuple[str, Sequence[str]]]
    ) -> list[tuple[str, str]]:
        """Run several tool JVMs a few at a time; (label, output) of each one that failed."""
        if not jobs:
            return []

        def run(job: tuple[str, Sequence[str]]) -> tuple[str, bool, str]:
            ok, output = self._run_tool(java, libs, main_class, job[1])
            return job[0], ok, output

        with ThreadPoolExecutor(max_workers=self._tool_parallelism) as pool:
            results = list(pool.map(run, jobs))
        return [(label, output) for label, ok, output in results if not ok]

    def _provisioned_users(self) -> list[str]:
        try:
            return list(json.loads(self._layout.scram_marker.read_text()))
        except FileNotFoundError:
            return []

    def _sync_scram_users(
        self, java: str, libs: Path, topology: Topology
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Give principals added to the topology since the format a SCRAM credential, and
        withdraw the credentials of principals that left it."""
        provisioned = set(self._provisioned_users())
        wanted = set(topology.principals)
        to_add, to_remove = sorted(wanted - provisioned), sorted(provisioned - wanted)
        if not to_add and not to_remove:
            return (), ()
        command_config = self._layout.tool_client_properties
        jobs: list[tuple[str, Sequence[str]]] = []
        temp_files: list[Path] = []
        for principal in to_add:
            config_file = self._layout.kafka_dir / f".scram-{principal}.properties"
            _write_private(
                config_file,
                config.render_scram_config_file(self._principal_password(principal)),
            )
            temp_files.append(config_file)
            jobs.append((f"add {principal}", config.config_command_add_scram_args(
                bootstrap=self._kafka, command_config=command_config,
                principal=principal, config_file=config_file,
            )))  # fmt: skip
        for principal in to_remove:
            jobs.append((f"remove {principal}", config.config_command_delete_scram_args(
                bootstrap=self._kafka, command_config=command_config, principal=principal,
            )))  # fmt: skip
        try:
            failed = self._run_tools_parallel(java, libs, _CONFIG_TOOL, jobs)
        finally:
            for path in temp_files:
                path.unlink(missing_ok=True)
        if failed:
            labels = ", ".join(label for label, _ in failed)
            raise KafkaToolFailed(
                "ConfigCommand", f"updating SCRAM users ({labels})",
                self._tools_log, config.failure_excerpt(failed[0][1]),
            )  # fmt: skip
        for principal in to_remove:
            self._layout.credential_file(principal).unlink(missing_ok=True)
        _write_text(self._layout.scram_marker, json.dumps(sorted(wanted)) + "\n")
        if to_add:
            self._progress(f"kafka: SCRAM credentials added for {', '.join(to_add)}")
        if to_remove:
            self._progress(f"kafka: SCRAM credentials removed for {', '.join(to_remove)}")
        return tuple(to_add), tuple(to_remove)

    def _sync_acls(self, java: str, libs: Path, grants: Iterable[AclGrant]) -> AclReport:
        wanted = frozenset(grants)
        marker = self._layout.acl_marker
        applied: frozenset[AclGrant] = frozenset()
        if marker.exists():
            if json.loads(marker.read_text())["digest"] == config.grants_digest(wanted):
                return AclReport(skipped=True)
            applied = config.decode_grants(marker.read_text())
        to_add, to_remove = config.diff_grants(applied, wanted)
        started = time.monotonic()
        jobs: list[tuple[str, Sequence[str]]] = []
        action: Literal["add", "remove"]
        for action, subset in (("add", to_add), ("remove", to_remove)):
            for batch in config.group_grants(subset):
                args = config.acl_command_args(
                    batch, action=action, bootstrap=self._kafka,
                    command_config=self._layout.tool_client_properties,
                )  # fmt: skip
                jobs.append((_batch_label(action, batch), args))
        launches = self._run_acl_jobs(java, libs, jobs)
        _write_text(marker, config.encode_grants(wanted))
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

    def _run_acl_jobs(
        self, java: str, libs: Path, jobs: Sequence[tuple[str, Sequence[str]]]
    ) -> int:
        """Run the AclCommand calls; returns how many JVMs that took."""
        if not jobs:
            return 0
        batch_classes = ensure_acl_batch_runner(self._settings, libs, self._progress)
        if batch_classes is None:
            failed = self._run_tools_parallel(java, libs, _ACL_TOOL, jobs)
            launches = len(jobs)
        else:
            jobs_file = self._layout.kafka_dir / "acl-jobs.tsv"
            _write_text(jobs_file, config.render_acl_batch_jobs(args for _, args in jobs))
            ok, output = self._run_tool(
                java, libs, config.ACL_BATCH_CLASS, [str(jobs_file)],
                extra_classpath=batch_classes,
            )  # fmt: skip
            failed = [] if ok else [(f"{len(jobs)} calls in one JVM", output)]
            launches = 1
        if failed:
            raise KafkaToolFailed(
                "AclCommand", f"applying ACLs ({'; '.join(label for label, _ in failed)})",
                self._tools_log, config.failure_excerpt(failed[0][1]),
            )  # fmt: skip
        return launches

    def _ensure_topics(self, topology: Topology) -> tuple[str, ...]:
        password = self._principal_password(ADMIN_PRINCIPAL)
        specs = config.topic_specs(topology)
        created = _run_async(
            lambda: _create_missing_topics(self._kafka, ADMIN_PRINCIPAL, password, specs)
        )
        if created:
            self._progress(f"topics: created {len(created)} ({', '.join(created)})")
        return created

    # --- processes ----------------------------------------------------------------------------

    def _expected(self, name: str, argv: tuple[str, ...]) -> bool:
        if name == "kafka":
            return "kafka.Kafka" in argv and str(self._layout.server_properties) in argv
        if name == _BUNDLES:
            return "services.policy.bundle_server" in argv and str(self._bundles) in argv
        return Path(argv[0]).name == "opa" and "--server" in argv and str(self._opa) in argv

    def _our_pid(self, name: str, *, remove_stale: bool = True) -> int | None:
        """The pid in the component's pidfile if that process is still the one we started."""
        pidfile = self._layout.pidfile(name)
        try:
            pid = int(pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        argv = _cmdline(pid)
        if argv is not None and _alive(pid) and self._expected(name, argv):
            return pid
        if remove_stale:
            pidfile.unlink(missing_ok=True)
        return None

    def _start(
        self, name: str, argv: Sequence[str], environment: Mapping[str, str] | None = None
    ) -> int:
        pid = _spawn_detached(argv, self._layout.log_file(name), environment)
        _write_text(self._layout.pidfile(name), f"{pid}\n")
        self._progress(f"{name}: started pid {pid} (log {self._layout.log_file(name)})")
        return pid

    def _ensure_kafka_process(self, java: str, libs: Path) -> tuple[int, bool]:
        pid = self._our_pid("kafka")
        if pid is not None:
            return pid, False
        for endpoint, setting in (
            (self._kafka, "SAFEHUB_KAFKA_BOOTSTRAP"),
            (self._controller, "SAFEHUB_KAFKA_CONTROLLER_PORT"),
            (self._kafka_tls, "SAFEHUB_KAFKA_TLS_BOOTSTRAP"),
        ):
            if _port_open(endpoint):
                raise PortInUse("kafka", str(endpoint), setting)
        argv = config.kafka_server_argv(
            java=java, libs_dir=libs, server_properties=self._layout.server_properties
        )
        return self._start("kafka", argv), True

    def _opa_preflight(self) -> None:
        """Fail before anything starts if OPA or its bundle service could not start anyway."""
        if not self._settings.policies_dir.is_dir():
            raise StackConfigError(
                f"opa: policy directory {self._settings.policies_dir} does not exist; "
                "set SAFEHUB_POLICIES_DIR"
            )
        if self._our_pid(_BUNDLES) is None and _port_open(self._bundles):
            raise PortInUse("opa", str(self._bundles), "SAFEHUB_POLICY_BUNDLE_SERVER_ADDR")
        if self._our_pid("opa") is None and _port_open(self._opa):
            raise PortInUse("opa", str(self._opa), "SAFEHUB_OPA_URL")

    def _ensure_published_bundle(self, opa: Path) -> str | None:
        """Make sure the bundle service offers a signed bundle of the working tree.

        OPA only ever loads signed bundles from the bundle service. For the local stack the
        working tree is what should run: on first `up` it is published as 1.0.0, and when it
        has changed since the latest release it is published as the next patch release (as
        `safehub policy publish` would). Returns the new revision, None when nothing changed.
        """
        try:
            result: PublishResult = publish_bundle(
                opa=opa,
                policies_dir=self._settings.policies_dir,
                store=self._store,
                keys_dir=self._settings.keys_dir,
                now=dt.datetime.now(dt.UTC),
            )
        except PolicyToolError as error:
            raise StackConfigError(f"opa: could not publish the policy bundle: {error}") from None
        if not result.created:
            return None
        self._progress(
            f"opa: published the working tree as signed bundle {result.release.revision} "
            f"({result.bundle})"
        )
        return result.release.revision

    def _opa_argv(self, opa: Path) -> tuple[tuple[str, ...], bool]:
        """OPA's command line and whether its configuration file just changed."""
        key = provision_ig_signing_key(self._settings.keys_dir)
        opa_dir = self._settings.data_dir / "opa"
        text = config.render_opa_bundle_config(
            bundle_service=self._bundles,
            bundle_name=BUNDLE_NAME,
            key_id=key.key_id,
            public_key_pem=key.public_key_pem,
            signing_algorithm=SIGNING_ALGORITHM,
            persistence_dir=opa_dir / "persist",
        )
        path = opa_dir / "config.json"
        changed = not path.exists() or path.read_text() != text
        if changed:
            _write_text(path, text)
        tls: config.OpaTls | None = None
        if self._settings.opa_uses_tls:
            # A new token means a running OPA expects the old one: restart it.
            changed = self._ensure_opa_token() or changed
            tls = config.OpaTls(
                certificate=self._layout.server_certificate,
                private_key=self._layout.server_key,
                authz_policy=_OPA_AUTHZ_POLICY,
            )
        argv = config.opa_argv(opa=opa, addr=self._opa, config_file=path, tls=tls)
        return argv, changed

    def _opa_environment(self) -> dict[str, str]:
        """GOGC, and for an https OPA the token its authz policy expects (never logged)."""
        if not self._settings.opa_uses_tls:
            return dict(_OPA_ENVIRONMENT)
        token = self._settings.opa_token_path.read_text().strip()
        return {**_OPA_ENVIRONMENT, config.OPA_TOKEN_ENV: config.validate_secret(token)}

    def _ensure_bundle_server(self) -> None:
        if self._our_pid(_BUNDLES) is not None:
            return
        if _port_open(self._bundles):
            raise PortInUse("opa", str(self._bundles), "SAFEHUB_POLICY_BUNDLE_SERVER_ADDR")
        argv = config.bundle_server_argv(
            python=sys.executable, root=self._store.root, addr=self._bundles
        )
        pid = self._start(_BUNDLES, argv)
        self._wait_until_healthy(_BUNDLES, pid, 10.0, self._bundles_unhealthy_reason)

    def _ensure_opa_process(self, wanted: tuple[tuple[str, ...], bool]) -> tuple[int, bool]:
        argv, config_changed = wanted
        pid = self._our_pid("opa")
        if pid is not None:
            if _cmdline(pid) == argv and not config_changed:
                return pid, False
            # Started another way (e.g. an unsigned policy folder, before bundles were
            # signed) or with another key: restart so only the signed bundle is loaded.
            self._progress(f"opa: restarting pid {pid} to load the signed policy bundle")
            _terminate(pid, _STOP_TIMEOUT_S["opa"])
            self._layout.pidfile("opa").unlink(missing_ok=True)
        if _port_open(self._opa):
            raise PortInUse("opa", str(self._opa), "SAFEHUB_OPA_URL")
        return self._start("opa", argv, self._opa_environment()), True

    # --- health -------------------------------------------------------------------------------

    def _kafka_unhealthy_reason(self, timeout_s: float) -> str | None:
        try:
            password = json.loads(self._layout.credential_file(ADMIN_PRINCIPAL).read_text())[
                "password"
            ]
        except (FileNotFoundError, ValueError, KeyError):
            return "no admin credential yet"
        if self._settings.kafka_security_protocol == "SASL_SSL":
            # The services connect over TLS: healthy means that path works.
            try:
                context = client_ssl_context(self._settings.trusted_ca_file)
            except TlsMaterialMissing as error:
                return str(error)
            return _run_async(
                lambda: _kafka_probe(
                    self._kafka_tls, ADMIN_PRINCIPAL, str(password), timeout_s, context
                )
            )
        return _run_async(
            lambda: _kafka_probe(self._kafka, ADMIN_PRINCIPAL, str(password), timeout_s)
        )

    def _opa_unhealthy_reason(self, timeout_s: float) -> str | None:
        # /health?bundles is 200 only once the signed bundle has been verified and activated.
        url = f"{self._settings.opa_url.rstrip('/')}/health?bundles"
        try:
            response = httpx.get(url, timeout=timeout_s, **self._opa_client_options())
        except TlsMaterialMissing as error:
            return str(error)
        except httpx.HTTPError as error:
            return f"{type(error).__name__} from /health"
        if response.status_code != 200:
            return f"/health?bundles answered {response.status_code} (no verified bundle active)"
        bundles_reason = self._bundles_unhealthy_reason(timeout_s)
        if bundles_reason is not None:
            return f"{bundles_reason}; OPA keeps its bundle but will not see new ones"
        return None

    def _bundles_unhealthy_reason(self, timeout_s: float) -> str | None:
        try:
            response = httpx.get(f"http://{self._bundles}/health", timeout=timeout_s)
        except httpx.HTTPError as error:
            return f"bundle service {self._bundles}: {type(error).__name__}"
        if response.status_code != 200:
            return f"bundle service {self._bundles} answered {response.status_code}"
        return None

    def served_revision(self, timeout_s: float = 2.0) -> str | None:
        """The bundle revision OPA serves now (from `?provenance=true`), None if unknown."""
        url = f"{self._settings.opa_url.rstrip('/')}/v1/data/safehub/isa/agreement"
        try:
            response = httpx.get(
                url, params={"provenance": "true"}, timeout=timeout_s,
                **self._opa_client_options(),
            )  # fmt: skip
            return revision_from_provenance(response.json())
        except (httpx.HTTPError, ValueError, TlsMaterialMissing):
            return None

    def _opa_client_options(self) -> dict[str, Any]:
        """verify= and headers= for calls to OPA: the stack's CA and token when https."""
        context = opa_ssl_context(self._settings)
        return {
            "verify": True if context is None else context,
            "headers": opa_auth_headers(self._settings),
        }

    def _wait_revision(self, pid: int, timeout_s: float = 20.0) -> None:
        """Wait until OPA serves the current release (it polls the bundle service)."""
        wanted = self._store.current_revision()
        if wanted is None:
            return
        deadline = time.monotonic() + timeout_s
        while (served := self.served_revision()) != wanted:
            if time.monotonic() >= deadline or not _alive(pid):
                log_path = self._layout.log_file("opa")
                raise ComponentUnhealthy(
                    "opa",
                    f"serves bundle revision {served!r}, not the published {wanted!r}; "
                    "OPA refuses a bundle whose signature does not verify (see its log)",
                    log_path,
                    self._redacted_tail(log_path),
                )
            time.sleep(0.3)

    def _wait_until_healthy(
        self, name: str, pid: int, timeout_s: float, probe: Callable[[float], str | None]
    ) -> None:
        deadline = time.monotonic() + timeout_s
        log_path = self._layout.log_file(name)
        while True:
            if not _alive(pid):
                self._layout.pidfile(name).unlink(missing_ok=True)
                raise ComponentUnhealthy(
                    name, f"process {pid} exited during start-up", log_path,
                    self._redacted_tail(log_path),
                )  # fmt: skip
            remaining = deadline - time.monotonic()
            reason = probe(max(0.5, min(5.0, remaining)))
            if reason is None:
                return
            if time.monotonic() >= deadline:
                raise ComponentUnhealthy(
                    name, f"not healthy after {timeout_s:.0f}s: {reason}", log_path,
                    self._redacted_tail(log_path),
                )  # fmt: skip
            time.sleep(0.3)

    def _wait_kafka(self, pid: int) -> None:
        self._wait_until_healthy("kafka", pid, KAFKA_START_TIMEOUT_S, self._kafka_unhealthy_reason)

    def _wait_opa(self, pid: int) -> None:
        self._wait_until_healthy("opa", pid, OPA_START_TIMEOUT_S, self._opa_unhealthy_reason)

    @staticmethod
    def _component(
        name: str, pid: int | None, reason: str | None, endpoint: str, *, healthy_detail: str = ""
    ) -> ComponentStatus:
        if pid is None:
            # Something healthy on our port that we did not start is still not "our" stack.
            detail = "not started by this stack" if reason is None else ""
            return ComponentStatus(name, ComponentState.DOWN, None, endpoint, detail)
        if reason is None:
            return ComponentStatus(name, ComponentState.HEALTHY, pid, endpoint, healthy_detail)
        return ComponentStatus(name, ComponentState.UNHEALTHY, pid, endpoint, reason)


def _batch_label(action: str, batch: AclBatch) -> str:
    names = ",".join(name for _, name in batch.resources)
    return f"{action} {'+'.join(batch.principals)} {'/'.join(batch.operations)} on {names}"
