"""Gateway scale-out: throughput with 1, 2 and 3 gateway instances, the per-notice cost, and
a sizing table for a region.

    python -m bench.scale_out [--instances 1,2,3] [--partitions 6] [--notices 3000]
                              [--notices-per-year 250000] [--max-seconds 120]
                              [--decision-timeout-s S]

Run from the repository root (as a module: it reuses bench/gateway.py's pieces). Needs
`safehub stack up` (its broker and Kafka jars; OPA is the run's own); takes about three
minutes, all on loopback.

On a machine other work starves, policy queries outlive the gateways' 2 s decision budget;
each such notice is tried again after a back-off (column `retried`). With a fixed budget the
abandoned queries still cost OPA CPU, and with more gateways (more queries in flight against
one OPA) progress stopped altogether (2 gateways: 378 of 3,000 notices in 123 s); since then
the gateway grows its budget after a timeout (services/gateway/domain/budget.py, up to
`decision_timeout_max_s`), and every instance count completes. `--decision-timeout-s 30`
measures the work without any retry (the CPU per notice is then the same at every count).

Where it runs: the stack's single broker, on benchmark-only topics (`bench-<run>-x<n>.*`,
created and deleted as the admin principal, notice topics with --partitions partitions, the
rest as the topology makes them), not services/stack/cluster.py's three-node cluster: on a
two-core machine three broker JVMs would take the cores the gateways are measured on. The
replication factor 3 of a real cluster enters the sizing as a multiplier of the bytes
measured here.

Per instance count n (a fresh namespace each, so each run starts with an empty record of
decided notices):
  n gateways   the real gateway (`safehub gateway run`, OPA engine) as n child processes in
               one consumer group, with an OPA, identity provider and child index of the run's
               own (so OPA's CPU is theirs alone); a warm-up batch is decided first (group
               joined, partitions prepared, tokens fetched)
  throughput   the pre-load (--notices, sealed as the adapters seal them: NoticePublisher with
               each agency's key, per-field signatures included) is published at once;
               notices/s from then until every notice's audit record is visible to a
               read_committed consumer (the gateway commits audit records and feed items in
               one transaction, so its feed items are visible too); ratio to n = 1
  CPU          CPU seconds per 1,000 notices of each gateway process, of OPA and of the broker
               over the same span (/proc). The broker is shared: other Kafka clients on the
               machine add to its figure
  read back    every topic of the namespace is read back (read_committed): records and bytes
               (key + value + headers) per notice by kind of topic; dead letters are reported

Per-notice cost (from the first instance count's run): the bytes each kind of topic holds per
notice on the broker's disk (its partitions' .log segment files, batch headers and transaction
markers included; index files left out), the audit records' growth of an audit store (the
run's real audit records indexed into a fresh SQLite store, minus the empty store), and the
retention each kind of topic has under the IG's policies/safehub/retention/data.json
(services/hubkit/retention.py).

Sizing: notices/s per core of the gateway, OPA and the broker (1 / CPU seconds per notice:
what one core sustains, which holds even though 3 instances cannot scale on 2 cores), broker
disk for --notices-per-year at that retention times replication factor 3, and the audit store
per year.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic

from bench.gateway import (
    Observer,
    Sealed,
    cpu_seconds,
    delete_topics,
    group_ready,
    namespaced,
    publish_sealed,
    sealed_notices,
    stack_pid,
    wait_until,
)
from services.audit.indexer import SourcePosition, entry_for_bytes
from services.audit.storage_sql import open_store
from services.gateway.settings import GatewaySettings
from services.hubkit.auth import CHILD_CONTEXT_SCOPE
from services.hubkit.bus import admin_client, make_producer, sasl_options
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.retention import RetentionRules, TopicKind, TopicRetention, topic_kind
from services.hubkit.settings import REPO_ROOT, HubSettings
from services.hubkit.topology import AUDIT_TOPIC, GATEWAY_GROUP, Topology, load_topology
from services.identity.clients import ensure_service_client
from services.stack.artifacts import ensure_opa
from services.stack.config import Endpoint, opa_argv

REPLICATION_FACTOR = 3
"""A production cluster's (services/stack/cluster.py, the Strimzi Kafka): disk is per replica."""
SEGMENT_ROLL_DAYS = 7
"""The broker default log.roll.hours=168 (nothing here sets it): retention deletes closed
segments only, and a quiet partition closes its segment after 7 days, so a record can outlive
its topic's retention.ms by up to that much. The disk figures take the longer time."""
AUDIT_STORE_YEARS = 6
"""The review period of AUDIT_RECORD in the retention data: what an audit store holds at most
before the first disposal review (the figure printed is per year; multiply)."""
WARM_UP = 60
"""Notices decided before the measurement: the group has joined and every partition has
read its record of decided notices (gateway.notices-seen.v1) before the clock starts."""
_DAY_MS = 24 * 60 * 60 * 1000
_MIB = 1024 * 1024


# --- the gateways ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateServices:
    """OPA, an identity provider and a child index of this run's own (free loopback ports,
    state and an empty store in a scratch directory): OPA's CPU is then the gateways' alone,
    and no other process on the machine stopping or loading theirs halts the gateways
    mid-run. `gateway_env` points the gateways at them."""

    def __init__(self) -> None:
        self._scratch = Path(tempfile.mkdtemp(prefix="safehub-bench-scale-"))
        self._children: list[subprocess.Popen[bytes]] = []
        self._issuer = f"http://127.0.0.1:{_free_port()}"
        self._index_port = _free_port()
        self._opa_port = _free_port()
        self.gateway_env: dict[str, str] = {}
        self.opa_pid: int | None = None

    async def start(self, hub: HubSettings) -> None:
        # The pinned OPA binary with this repository's policies as a plain bundle (the stack's
        # OPA loads the same policies as a signed bundle; evaluation is the same).
        argv = opa_argv(
            opa=ensure_opa(hub),
            addr=Endpoint("127.0.0.1", self._opa_port),
            policies_dir=hub.policies_dir,
        )
        opa = _spawn(list(argv), dict(os.environ), self._scratch / "opa.log")
        self._children.append(opa)
        self.opa_pid = opa.pid
        opa_url = f"http://127.0.0.1:{self._opa_port}"
        if not await _answers(f"{opa_url}/health", timeout_s=30):
            raise RuntimeError(f"OPA did not start; see {self._scratch / 'opa.log'}")
        gateway = GatewaySettings()
        client_key = self._scratch / "gateway-childindex.pem"
        identity_state = self._scratch / "identity"
        ensure_service_client(
            state_dir=identity_state,
            private_key_path=client_key,
            client_id=gateway.child_index_client_id,
            agency="MASH",
            scopes=(CHILD_CONTEXT_SCOPE,),
        )
        env = {
            **os.environ,
            "SAFEHUB_IDENTITY_ISSUER": self._issuer,
            "SAFEHUB_IDENTITY_STATE_DIR": str(identity_state),
            "SAFEHUB_CHILDINDEX_PORT": str(self._index_port),
            "SAFEHUB_CHILDINDEX_TOKEN_ISSUER": self._issuer,
            "SAFEHUB_CHILDINDEX_STORE_PATH": str(self._scratch / "index.sqlite"),
            "SAFEHUB_CHILDINDEX_STORE_KEY_PATH": str(self._scratch / "index.store.key"),
        }
        index_url = f"http://127.0.0.1:{self._index_port}"
        for command, ready in (
            ("identity", f"{self._issuer}/.well-known/jwks.json"),
            ("childindex", f"{index_url}/healthz"),
        ):
            self._children.append(
                _spawn_cli([command, "serve"], env, self._scratch / f"{command}.log")
            )
            if not await _answers(ready, timeout_s=30):
                raise RuntimeError(f"{command} did not start; see {self._scratch / command}.log")
        self.gateway_env = {
            "SAFEHUB_GATEWAY_TOKEN_ENDPOINT": f"{self._issuer}/token",
            "SAFEHUB_GATEWAY_CHILD_INDEX_URL": index_url,
            "SAFEHUB_GATEWAY_CHILD_INDEX_CLIENT_KEY": str(client_key),
            "SAFEHUB_OPA_URL": opa_url,
        }

    def stop(self) -> None:
        for child in self._children:
            child.terminate()
        for child in self._children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        shutil.rmtree(self._scratch, ignore_errors=True)


async def _answers(url: str, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(url)).status_code == 200:
                    return True
            await asyncio.sleep(0.2)
    return False


def gateway_log(namespace: str, index: int) -> Path:
    return Path(f"/tmp/safehub-bench-{namespace}-{index}.log")


def spawn_gateway(
    namespace: str, index: int, context: PrivateServices, *, decision_timeout_s: float | None
) -> subprocess.Popen[bytes]:
    """`safehub gateway run` on the namespace's topics, as the admin principal (the bench
    topics carry no per-service ACLs), deciding with the run's OPA; log in /tmp. The policy
    query budget is the gateway's own unless `decision_timeout_s` is given."""
    env = {
        **os.environ,
        **context.gateway_env,
        "SAFEHUB_GATEWAY_NAMESPACE": namespace,
        "SAFEHUB_GATEWAY_KAFKA_PRINCIPAL": "admin",
        "SAFEHUB_GATEWAY_ENGINE": "opa",
    }
    if decision_timeout_s is not None:
        env["SAFEHUB_GATEWAY_DECISION_TIMEOUT_S"] = str(decision_timeout_s)
    argv = ["gateway", "run", "--http-port", "0", "--no-identity"]
    return _spawn_cli(argv, env, gateway_log(namespace, index))


def undecided_queries(log: Path) -> int:
    """Notices whose policy answer the gateway could not use (its own log: timeouts, OPA
    errors), each tried again after a back-off: on a starved machine they, not the work, set
    the pace."""
    try:
        with log.open(encoding="utf-8", errors="replace") as lines:
            return sum(1 for line in lines if _NO_DECISION in line)
    except FileNotFoundError:
        return 0


_NO_DECISION = '"message":"policy engine gave no usable decision"'


def _spawn_cli(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """`safehub <argv>` as a child process of this one, its output to `log_path`."""
    return _spawn([sys.executable, "-m", "services.cli.main", *argv], env, log_path)


def _spawn(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_gateways(children: Sequence[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)


# --- topics ----------------------------------------------------------------------------------


def bench_partitions(topology: Topology, partitions: int) -> dict[str, int]:
    """Each topic's partition count: the notice topics `partitions`, the rest as in topology."""
    return {
        topic: partitions if topic in topology.notice_topics else topology.partitions(topic)
        for topic in topology.all_topics
    }


async def create_topics(
    hub: HubSettings, topology: Topology, namespace: str, partitions: Mapping[str, int]
) -> list[str]:
    topics = [
        NewTopic(namespaced(namespace, t), n, 1, topic_configs=topology.config(t))
        for t, n in partitions.items()
    ]
    admin = admin_client(hub)
    await admin.start()
    try:
        await admin.create_topics(topics, timeout_ms=30_000)
    finally:
        await admin.close()
    return [t.name for t in topics]


@dataclass
class TopicTally:
    """What one kind of topic holds after a run."""

    records: int = 0
    record_bytes: int = 0
    """key + value + header bytes of the committed records, as a consumer reads them"""
    disk_bytes: int | None = 0
    """the partitions' .log segment files on the broker (None: the log dir is not readable)"""


async def read_back(
    hub: HubSettings,
    topology: Topology,
    namespace: str,
    partitions: Mapping[str, int],
    *,
    timeout_s: float = 120.0,
) -> tuple[dict[TopicKind, TopicTally], list[bytes]]:
    """Every committed record of the namespace's topics, tallied by kind of topic, and the
    audit records' values (for the audit store)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=hub.kafka_bootstrap,
        client_id="safehub-bench-read-back",
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        **sasl_options(hub.credentials_dir, "admin"),
    )
    names = {namespaced(namespace, t): t for t in partitions}
    tps = [
        TopicPartition(namespaced(namespace, t), p) for t, n in partitions.items() for p in range(n)
    ]
    tallies: dict[TopicKind, TopicTally] = {}
    audit_values: list[bytes] = []
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(at >= ends[tp] for at, tp in zip(positions, tps, strict=True)):
                break
            batches = await consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batches.items():
                topic = names[tp.topic]
                tally = tallies.setdefault(topic_kind(topic, topology), TopicTally())
                for record in records:
                    tally.records += 1
                    tally.record_bytes += len(record.key or b"") + len(record.value or b"")
                    tally.record_bytes += sum(len(k) + len(v) for k, v in record.headers)
                    if topic == AUDIT_TOPIC and record.value is not None:
                        audit_values.append(record.value)
        else:
            raise RuntimeError(f"reading back {namespace} did not reach the end in {timeout_s}s")
    finally:
        await consumer.stop()
    log_dir = broker_log_dir(hub)
    for topic, n in partitions.items():
        tally = tallies.setdefault(topic_kind(topic, topology), TopicTally())
        if log_dir is None or tally.disk_bytes is None:
            tally.disk_bytes = None
            continue
        for p in range(n):
            segments = (log_dir / f"{namespaced(namespace, topic)}-{p}").glob("*.log")
            tally.disk_bytes += sum(s.stat().st_size for s in segments)
    return tallies, audit_values


def broker_log_dir(hub: HubSettings) -> Path | None:
    """The stack broker's log.dirs (one directory), if this process can read it."""
    properties = hub.data_dir / "kafka" / "server.properties"
    try:
        lines = properties.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("log.dirs="):
            path = Path(line.split("=", 1)[1].split(",")[0])
            return path if path.is_dir() else None
    return None


def audit_store_bytes(hub: HubSettings, values: Sequence[bytes]) -> tuple[int, int, int]:
    """(entries, of which rejected, bytes the entries added to a fresh SQLite audit store):
    the real indexer's entries (signature checked against the stack's trusted gateway key,
    salted commitments for records naming a child) appended in batches of 500, as the audit
    service does, minus the size of the same store empty."""
    catalog = SchemaCatalog(hub.schemas_dir)
    keys = KeyDirectory.load(hub.keys_dir / "trusted")
    with tempfile.TemporaryDirectory(prefix="safehub-bench-scale-audit-") as tmp:

        def size(db: Path) -> int:
            # The database and any WAL left; the store key beside it is not the store's growth.
            return sum(
                f.stat().st_size for f in db.parent.glob(db.name + "*") if ".key" not in f.name
            )

        empty = Path(tmp) / "empty.db"
        open_store(f"sqlite:///{empty}").close()
        db = Path(tmp) / "audit.db"
        store = open_store(f"sqlite:///{db}")
        rejected = 0
        try:
            for first in range(0, len(values), 500):
                entries = [
                    entry_for_bytes(
                        catalog, v, keys=keys, source=SourcePosition(AUDIT_TOPIC, 0, first + i)
                    )
                    for i, v in enumerate(values[first : first + 500])
                ]
                rejected += sum(1 for e in entries if e.rejection is not None)
                store.append(entries, appended_at_ms=first)
        finally:
            store.close()
        return len(values), rejected, size(db) - size(empty)


# --- one instance count ----------------------------------------------------------------------


@dataclass
class ScaleRun:
    instances: int
    notices: int = 0
    seconds: float = 0.0
    complete: bool = False
    gateway_cpu: list[float | None] = field(default_factory=list)
    undecided: int = 0
    """notices whose policy answer the gateways could not use (tried again), whole run"""
    opa_cpu: float | None = None
    broker_cpu: float | None = None
    tallies: dict[TopicKind, TopicTally] = field(default_factory=dict)
    published: int = 0
    """notices published to the namespace in all (warm-up + pre-load): the read-back's divisor"""
    audit_values: list[bytes] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.notices / self.seconds if self.seconds else 0.0

    def per_1000(self, cpu: float | None) -> float | None:
        return None if cpu is None or not self.notices else cpu / self.notices * 1000

    @property
    def gateways_cpu(self) -> float | None:
        known = [c for c in self.gateway_cpu if c is not None]
        return sum(known) if known and len(known) == len(self.gateway_cpu) else None


def _cpu_delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


async def run_instances(
    instances: int,
    hub: HubSettings,
    topology: Topology,
    *,
    run_id: str,
    partitions: Mapping[str, int],
    warm_up: Sequence[Sealed],
    preload: Sequence[Sealed],
    max_seconds: float,
    context: PrivateServices,
    decision_timeout_s: float | None,
) -> ScaleRun:
    namespace = f"bench-{run_id}-x{instances}"
    run = ScaleRun(instances)
    topics = await create_topics(hub, topology, namespace, partitions)
    observer = Observer(hub, namespaced(namespace, AUDIT_TOPIC), partitions[AUDIT_TOPIC])
    producer = make_producer(hub, "admin")
    await producer.start()
    await observer.start()
    children: list[subprocess.Popen[bytes]] = []
    try:
        children = [
            spawn_gateway(namespace, i, context, decision_timeout_s=decision_timeout_s)
            for i in range(instances)
        ]
        group = namespaced(namespace, GATEWAY_GROUP)
        if not await group_ready(hub, group, timeout_s=90, members=instances):
            raise RuntimeError(
                f"{instances} gateway(s) never formed one group; see /tmp/safehub-bench-"
                f"{namespace}-*.log"
            )
        warm_keys = {s.key for s in warm_up}
        await publish_sealed(producer, namespace, warm_up)
        if not await wait_until(lambda: warm_keys <= observer.seen.keys(), timeout_s=120):
            raise RuntimeError(
                f"the warm-up notices were not decided in 120 s; see /tmp/safehub-bench-"
                f"{namespace}-*.log"
            )
        keys = {s.key for s in preload}
        pids = [c.pid for c in children]
        opa_pid, broker_pid = context.opa_pid, stack_pid(hub, "kafka")
        gw0 = [cpu_seconds(p) for p in pids]
        opa0, broker0 = cpu_seconds(opa_pid), cpu_seconds(broker_pid)
        started = time.monotonic()
        await publish_sealed(producer, namespace, preload)
        run.complete = await wait_until(lambda: keys <= observer.seen.keys(), timeout_s=max_seconds)
        gw1 = [cpu_seconds(p) for p in pids]
        opa1, broker1 = cpu_seconds(opa_pid), cpu_seconds(broker_pid)
        seen = [observer.seen[k] for k in keys if k in observer.seen]
        run.notices = len(seen)
        run.seconds = (max(seen) if run.complete else time.monotonic()) - started
        run.gateway_cpu = [_cpu_delta(a, b) for a, b in zip(gw0, gw1, strict=True)]
        run.opa_cpu = _cpu_delta(opa0, opa1)
        run.broker_cpu = _cpu_delta(broker0, broker1)
        run.undecided = sum(undecided_queries(gateway_log(namespace, i)) for i in range(instances))
        crashed = [i for i, c in enumerate(children) if c.poll() is not None]
        if crashed:
            raise RuntimeError(
                f"gateway(s) {crashed} exited; see /tmp/safehub-bench-{namespace}-*.log"
            )
        if run.complete:
            run.published = len(warm_up) + len(preload)
            run.tallies, run.audit_values = await read_back(hub, topology, namespace, partitions)
    finally:
        stop_gateways(children)
        await observer.stop()
        await producer.stop()
        await delete_topics(hub, topics)
    return run


# --- figures ---------------------------------------------------------------------------------


def _f(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def retention_days(retention: TopicRetention) -> float | None:
    """Days a record stays at most (retention plus a segment roll); None: kept for good."""
    if retention.compact or retention.retention_ms is None or retention.retention_ms < 0:
        return None
    return retention.retention_ms / _DAY_MS + SEGMENT_ROLL_DAYS


def retention_words(retention: TopicRetention) -> str:
    if retention.compact:
        return "compacted, kept for good"
    if retention.retention_ms is None or retention.retention_ms < 0:
        return "kept for good"
    return f"{retention.retention_ms / _DAY_MS:.0f} days"


def print_throughput(runs: Sequence[ScaleRun], partitions: int) -> None:
    print()
    print(f"gateway throughput, notice topics of {partitions} partitions (single broker):")
    print(
        f"{'gateways':>8} {'notices':>7} {'seconds':>7} {'notices/s':>9} {'ratio':>5}  "
        f"{'gateway CPU s/1k (each)':<26} {'sum':>5} {'OPA':>5} {'Kafka':>5} {'retried':>7}"
    )
    base = runs[0].throughput if runs and runs[0].complete else 0.0
    for r in runs:
        each = " ".join(_f(r.per_1000(c)) for c in r.gateway_cpu)
        ratio = f"{r.throughput / base:.2f}" if base and r.complete else "n/a"
        note = "" if r.complete else "  (incomplete: bounded by --max-seconds)"
        print(
            f"{r.instances:>8} {r.notices:>7} {r.seconds:>7.1f} {r.throughput:>9.1f} {ratio:>5}  "
            f"{each:<26} {_f(r.per_1000(r.gateways_cpu)):>5} {_f(r.per_1000(r.opa_cpu)):>5} "
            f"{_f(r.per_1000(r.broker_cpu)):>5} {r.undecided:>7}{note}"
        )
    print(
        "ratio = notices/s against 1 gateway in this run. CPU = CPU seconds per 1,000 notices; "
        "the machine has"
    )
    print(
        f"{os.cpu_count()} cores, so with more gateway processes than cores they share them: "
        "compare the CPU, not only the ratio."
    )
    print(
        "Kafka is the stack's shared broker: other clients on the machine add to its CPU "
        "(see the load averages)."
    )
    print(
        "retried = notices whose policy answer the gateways could not use (e.g. past the "
        "decision budget), tried again:"
    )
    print("not 0 means the figures measure a starved machine, not the gateway's work.")


@dataclass(frozen=True, slots=True)
class KindCost:
    kind: TopicKind
    records_per_notice: float
    record_bytes_per_notice: float
    disk_bytes_per_notice: float | None
    retention: TopicRetention


def kind_costs(run: ScaleRun, rules: RetentionRules) -> list[KindCost]:
    costs = []
    for kind, tally in sorted(run.tallies.items(), key=lambda kv: kv[0].value):
        if not tally.records:
            continue
        costs.append(
            KindCost(
                kind=kind,
                records_per_notice=tally.records / run.published,
                record_bytes_per_notice=tally.record_bytes / run.published,
                disk_bytes_per_notice=(
                    None if tally.disk_bytes is None else tally.disk_bytes / run.published
                ),
                retention=rules.topics[kind],
            )
        )
    return costs


def print_costs(run: ScaleRun, costs: Sequence[KindCost], store: tuple[int, int, int]) -> None:
    print()
    print(
        f"per-notice cost ({run.published} notices through {run.instances} gateway(s), "
        "read back read_committed; disk = the broker's .log segments, one replica):"
    )
    print(f"{'topic kind':<13} {'records':>7} {'record B':>9} {'disk B':>9}  retention (IG data)")
    for c in costs:
        print(
            f"{c.kind.value:<13} {c.records_per_notice:>7.2f} {c.record_bytes_per_notice:>9,.0f} "
            f"{_f(c.disk_bytes_per_notice, ',.0f'):>9}  {retention_words(c.retention)}"
        )
    print("(records and bytes per notice; FEED is all subscribers' feed topics together)")
    entries, rejected, grown = store
    if entries:
        print(
            f"audit store (SQLite, real indexer entries): {grown / entries:,.0f} bytes per audit "
            f"record, {grown / run.published:,.0f} per notice ({entries} records"
            + (f", {rejected} REJECTED: check the trusted keys" if rejected else "")
            + ")"
        )


def print_sizing(
    runs: Sequence[ScaleRun],
    costs: Sequence[KindCost],
    store: tuple[int, int, int],
    *,
    per_year: int,
    published: int,
) -> None:
    print()
    print(f"sizing for {per_year:,} notices a year ({per_year / 365 / 86400:.4f}/s on average):")
    for r in runs:
        if not r.complete:
            continue
        parts = []
        known = [c for c in (r.gateways_cpu, r.opa_cpu, r.broker_cpu) if c is not None]
        whole = sum(known) if len(known) == 3 else None
        for name, cpu in (
            ("gateway", r.gateways_cpu),
            ("OPA", r.opa_cpu),
            ("Kafka", r.broker_cpu),
            ("all three", whole),
        ):
            per = r.per_1000(cpu)
            parts.append(f"{name} {1000 / per:,.0f}" if per else f"{name} n/a")
        print(f"  notices/s per core with {r.instances} gateway(s): {', '.join(parts)}")
    print(
        f"  broker disk, replication factor {REPLICATION_FACTOR} (retention + up to "
        f"{SEGMENT_ROLL_DAYS} days until a segment closes):"
    )
    print(f"    {'topic kind':<13} {'held after year 1':>17} {'growth per later year':>21}")
    held_total = growth_total = 0.0
    for c in costs:
        if c.disk_bytes_per_notice is None:
            print(f"    {c.kind.value:<13} {'n/a (broker log dir not readable)':>39}")
            continue
        year = per_year * c.disk_bytes_per_notice * REPLICATION_FACTOR
        days = retention_days(c.retention)
        held = year if days is None else year * min(days, 365) / 365
        growth = year if days is None else 0.0
        held_total += held
        growth_total += growth
        print(f"    {c.kind.value:<13} {held / _MIB:>13,.0f} MiB {growth / _MIB:>17,.0f} MiB")
    print(f"    {'total':<13} {held_total / _MIB:>13,.0f} MiB {growth_total / _MIB:>17,.0f} MiB")
    entries, _, grown = store
    if entries:
        year = per_year * grown / published
        print(
            f"  audit store: {year / _MIB:,.0f} MiB a year, {AUDIT_STORE_YEARS * year / _MIB:,.0f}"
            f" MiB at the {AUDIT_STORE_YEARS}-year review period of AUDIT_RECORD (one copy; "
            "backups and the IG index on PostgreSQL differ)"
        )


# --- orchestration ---------------------------------------------------------------------------


async def orchestrate(args: argparse.Namespace) -> None:
    import logging

    # Fresh benchmark topics make aiokafka log transient leader elections; not our figures.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    rules = RetentionRules.load(hub.policies_dir)
    counts = [int(n) for n in args.instances.split(",")]
    partitions = bench_partitions(topology, args.partitions)
    run_id = secrets.token_hex(3)
    seed = secrets.randbelow(2**31)
    print(
        "broker: the stack's single broker (bench-only topics); not the 3-node loopback "
        "cluster, whose three JVMs would take the cores the gateways are measured on"
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"sealing {args.notices} + {WARM_UP} warm-up notices as the adapters seal them ...")
    preload = sealed_notices(hub, topology, args.notices, seed=seed)
    warm_up = sealed_notices(hub, topology, WARM_UP, seed=seed + 1)
    mean = sum(len(s.value) for s in preload) / max(1, len(preload))
    print(f"signed notices: {mean:,.0f} bytes on average")
    runs: list[ScaleRun] = []
    context = PrivateServices()
    await context.start(hub)
    try:
        for n in counts:
            print(f"running {n} gateway(s) ...", flush=True)
            runs.append(
                await run_instances(
                    n,
                    hub,
                    topology,
                    run_id=run_id,
                    partitions=partitions,
                    warm_up=warm_up,
                    preload=preload,
                    max_seconds=args.max_seconds,
                    context=context,
                    decision_timeout_s=args.decision_timeout_s,
                )
            )
            dead = runs[-1].tallies.get(TopicKind.DEADLETTER)
            if dead is not None and dead.records:
                print(f"  WARNING: {dead.records} dead letters; see the gateways' logs")
    finally:
        context.stop()
    print_throughput(runs, args.partitions)
    measured = next((r for r in runs if r.tallies), None)
    if measured is None:
        print("no run completed: no per-notice cost or sizing")
        return
    costs = kind_costs(measured, rules)
    store = audit_store_bytes(hub, measured.audit_values)
    print_costs(measured, costs, store)
    print_sizing(runs, costs, store, per_year=args.notices_per_year, published=measured.published)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", default="1,2,3", help="gateway counts to run, in order")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per notice topic")
    parser.add_argument("--notices", type=int, default=3000, help="pre-loaded per instance count")
    parser.add_argument(
        "--notices-per-year", type=int, default=250_000, help="annual volume to size for"
    )
    parser.add_argument("--max-seconds", type=float, default=120.0, help="throughput time bound")
    parser.add_argument(
        "--decision-timeout-s",
        type=float,
        default=None,
        help="the gateways' policy query budget (default: theirs, 2 s); raise it on a machine "
        "other work starves, or timed-out queries and their retries set the pace",
    )
    args = parser.parse_args(argv)
    asyncio.run(orchestrate(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
