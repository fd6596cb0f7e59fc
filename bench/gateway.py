"""Gateway throughput, latency and CPU against same-run Kafka baselines.

    python bench/gateway.py [--notices 3000] [--rate 200] [--seconds 10]
                            [--only b0,b1,b2,gw-opa,gw-rego] [--profile DIR]
                            [--without-field-provenance]

Needs `safehub stack up`. Runs for about three minutes, all on loopback. The gateway scenarios
ask the child index for every poll's child contexts, as the gateway does in production: the
bench starts the identity provider and a child index with an empty store of its own
(`safehub identity serve`, `safehub childindex serve`) unless they already answer on their
ports, and registers the gateway's client. Every scenario runs
as its own child process (its CPU is its own; it shares the GIL with nothing) on its own
benchmark-only topics (`bench-<run>-<scenario>.*`, created and deleted as the admin
principal, so no other consumer or gateway touches them):

  b0       bare aiokafka consume -> produce passthrough (read_committed consumer, offsets
           committed every commit interval, idempotent acks=all producer)
  b1       b0 with fan-out: each notice produced to the 6 feed topics
  b2       b1 inside transactions: one transactional producer per input partition, the
           copies + the consumed offsets committed together every commit interval (the
           gateway's, 100 ms)
  gw-opa   the real gateway (6 subscribers) deciding with the stack's OPA server
  gw-rego  the real gateway deciding with regopy in process

Per scenario:
  throughput  the processor is started and has joined its group; then the pre-load
              (--notices; --rego-notices for regopy) is published at once: notices/s from
              then until the last notice's output is visible to a read_committed consumer
              (bounded by --max-seconds)
  CPU         the processor's CPU seconds per 1,000 notices over the same span (/proc), and
              for gw-opa also the OPA server's, and the broker's for every scenario
              (shared: other OPA or Kafka clients on the machine add noise)
  latency     then an open-loop producer sends --rate notices/s for --seconds (gateway
              scenarios first also at a rate they can sustain); latency = first visibility
              of the notice's output to a read_committed consumer minus its send time.
              Notices not visible 10 s after the phase are "late" and rank above all others.

Before the scenarios, the gateway's own steps are timed in this process, one notice at a
time (CPU ms per notice; OPA is asked in batches of `decision_batch`, as the gateway asks),
to show where the time goes. Ratios are of throughput. Output keys are unique per notice
(its linkage key) so the observer never decodes anything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import datetime as dt
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic

from services.childindex.domain import LinkageKeyer
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import admin_client, make_consumer, make_producer, sasl_options
from services.hubkit.codec import SchemaCatalog
from services.hubkit.envelope import load_signing_key, seal
from services.hubkit.notice import DETAIL_RECORD, encode_notice
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_TOPIC, Topology, load_topology
from services.synthetic.notices import SyntheticNotices

SCENARIOS = ("b0", "b1", "b2", "gw-opa", "gw-rego")
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


# --- notices ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sealed:
    topic: str  # un-namespaced agency topic
    key: bytes
    value: bytes


def sealed_notices(
    hub: HubSettings,
    topology: Topology,
    count: int,
    *,
    seed: int,
    field_provenance: bool = True,
) -> list[Sealed]:
    """Signed notices of every type, each with a unique linkage key (the output key); with
    the agency's per-field signatures as every publisher seals them, or without
    (`field_provenance=False`, as a publisher from before issue 19: their cost by difference)."""
    catalog = SchemaCatalog(hub.schemas_dir)
    generator = SyntheticNotices(
        seed=seed, keyer=LinkageKeyer(b"bench-only-linkage-secret-32byte"), now=_NOW
    )
    publishers: dict[str, NoticePublisher] = {}
    types = sorted(DETAIL_RECORD)
    out: list[Sealed] = []
    for i in range(count):
        notice = generator.notice(types[i % len(types)])
        notice["subject"]["linkage_key"] = f"{seed:08x}{i:056x}"
        code = notice["source"]["agency"]
        if code not in publishers:
            agency = topology.agency(code)
            publishers[code] = NoticePublisher(
                producer=None,  # only seal_notice is used
                catalog=catalog,
                agency=agency,
                signing_key=load_signing_key(hub.keys_dir, agency.principal),
            )
        if field_provenance:
            value = publishers[code].seal_notice(notice)
        else:
            key = load_signing_key(hub.keys_dir, topology.agency(code).principal)
            value = seal(catalog, encode_notice(catalog, notice), key, _NOW)
        out.append(
            Sealed(topology.agency(code).topic, notice["subject"]["linkage_key"].encode(), value)
        )
    return out


# --- processors (child processes) --------------------------------------------------------------


def namespaced(namespace: str, name: str) -> str:
    return f"{namespace}.{name}"


async def run_baseline(kind: str, hub: HubSettings, namespace: str, topology: Topology) -> None:
    gateway = GatewaySettings()
    interval = gateway.commit_interval_ms / 1000
    inputs = [namespaced(namespace, t) for t in topology.notice_topics]
    feeds = [namespaced(namespace, s.feed_topic) for s in topology.subscribers]
    outputs = [namespaced(namespace, "bench.out")] if kind == "b0" else feeds
    group = namespaced(namespace, "bench-group")
    consumer = make_consumer(hub, "admin", *inputs, group_id=group)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await consumer.start()
    producers: dict[TopicPartition, AIOKafkaProducer] = {}
    shared = None
    if kind != "b2":
        shared = make_producer(hub, "admin")
        await shared.start()
    pending: dict[TopicPartition, tuple[list[Any], int, float]] = {}

    async def commit_transaction(tp: TopicPartition) -> None:
        records, next_offset, _ = pending.pop(tp)
        producer = producers.get(tp)
        if producer is None:
            txn_id = namespaced(namespace, f"bench-{tp.topic}-{tp.partition}")
            producer = make_producer(hub, "admin", transactional_id=txn_id)
            await producer.start()
            producers[tp] = producer
        async with producer.transaction():
            futures = [
                await producer.send(topic, value=r.value, key=r.key)
                for r in records
                for topic in outputs
            ]
            await asyncio.gather(*futures)
            await producer.send_offsets_to_transaction({tp: next_offset}, group)

    async def pass_through(records: list[Any]) -> None:
        assert shared is not None
        futures = [
            await shared.send(topic, value=r.value, key=r.key) for r in records for topic in outputs
        ]
        await asyncio.gather(*futures)

    offsets: dict[TopicPartition, int] = {}
    last_commit = time.monotonic()
    try:
        while not stopping.is_set():
            now = time.monotonic()
            timeout = min([0.2, *(since + interval - now for _, _, since in pending.values())])
            batches = await consumer.getmany(
                timeout_ms=max(0, int(timeout * 1000)), max_records=gateway.max_batch
            )
            if kind != "b2":
                # B0/B1: produce at once; commit consumed offsets every commit interval.
                records = [r for rs in batches.values() for r in rs]
                if records:
                    await pass_through(records)
                for tp, rs in batches.items():
                    if rs:
                        offsets[tp] = rs[-1].offset + 1
                if offsets and time.monotonic() - last_commit >= interval:
                    await consumer.commit(offsets)
                    offsets = {}
                    last_commit = time.monotonic()
                continue
            # B2: hold each partition's records, one transaction per partition per interval.
            for tp, rs in batches.items():
                if not rs:
                    continue
                held, _, since = pending.get(tp, ([], 0, time.monotonic()))
                pending[tp] = (held + rs, rs[-1].offset + 1, since)
                if len(pending[tp][0]) >= gateway.max_batch:
                    await commit_transaction(tp)
            now = time.monotonic()
            due = [tp for tp, (_, _, since) in pending.items() if now - since >= interval]
            await asyncio.gather(*(commit_transaction(tp) for tp in due))
    finally:
        for producer in producers.values():
            await producer.stop()
        if shared is not None:
            await shared.stop()
        await consumer.stop()


async def run_gateway(engine: str, hub: HubSettings, namespace: str) -> None:
    from services.gateway.bootstrap import serve_gateway
    from services.gateway.logs import configure_json_logging

    configure_json_logging()
    settings = GatewaySettings(
        engine=engine,  # type: ignore[arg-type]
        namespace=namespace,
        kafka_principal="admin",
        http_port=0,
    )
    await serve_gateway(hub, settings)


def role_main(args: argparse.Namespace) -> int:
    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    if args.scenario.startswith("gw-"):
        engine = "opa" if args.scenario == "gw-opa" else "regopy"
        job = run_gateway(engine, hub, args.namespace)
    else:
        job = run_baseline(args.scenario, hub, args.namespace, topology)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            asyncio.run(job)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    else:
        asyncio.run(job)
    return 0


# --- orchestration -------------------------------------------------------------------------


def cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _opa_pid(hub: HubSettings) -> int | None:
    return stack_pid(hub, "opa")


def stack_pid(hub: HubSettings, component: str) -> int | None:
    """The pid `safehub stack up` recorded for `component` (opa, kafka), if it is running."""
    try:
        pid = int((hub.data_dir / "run" / f"{component}.pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


@dataclass
class Result:
    scenario: str
    throughput_n: int = 0
    throughput_s: float = 0.0
    cpu_s: float | None = None
    engine_cpu_s: float | None = None
    broker_cpu_s: float | None = None
    latency: dict[int, tuple[list[float], int]] = field(default_factory=dict)
    """open-loop rate -> (latencies in ms of the notices that came through, notices sent)"""

    @property
    def throughput(self) -> float:
        return self.throughput_n / self.throughput_s if self.throughput_s else 0.0

    def cpu_per_1000(self, value: float | None) -> str:
        if value is None or not self.throughput_n:
            return "n/a"
        return f"{value / self.throughput_n * 1000:.2f}"

    def percentile(self, rate: int, q: int) -> str:
        latencies, sent = self.latency.get(rate, ([], 0))
        if len(latencies) < 2:
            return "n/a"
        # Notices that never came count as slower than any that did.
        missing = sent - len(latencies)
        ranked = sorted(latencies) + [float("inf")] * missing
        value = ranked[min(len(ranked) - 1, int(len(ranked) * q / 100))]
        return ">10s" if value == float("inf") else f"{value:.0f}"

    def late(self, rate: int) -> str:
        latencies, sent = self.latency.get(rate, ([], 0))
        return str(sent - len(latencies)) if sent else "n/a"


class Observer:
    """First read_committed visibility of each output key, without decoding anything."""

    def __init__(self, hub: HubSettings, topic: str, partitions: int) -> None:
        self.seen: dict[bytes, float] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=hub.kafka_bootstrap,
            client_id="safehub-bench-observer",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
            fetch_max_wait_ms=10,
            **sasl_options(hub.credentials_dir, "admin"),
        )
        self._tps = [TopicPartition(topic, p) for p in range(partitions)]
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=50)
            now = time.monotonic()
            for records in batches.values():
                for record in records:
                    self.seen.setdefault(record.key, now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


async def _create_topics(hub: HubSettings, topology: Topology, namespace: str) -> list[str]:
    names = [*topology.all_topics, "bench.out"]
    topics = [
        NewTopic(
            namespaced(namespace, n),
            topology.partitions(n) if n != "bench.out" else 3,
            1,
        )
        for n in names
    ]
    admin = admin_client(hub)
    await admin.start()
    try:
        await admin.create_topics(topics, timeout_ms=30_000)
    finally:
        await admin.close()
    return [t.name for t in topics]


async def delete_topics(hub: HubSettings, topics: Sequence[str]) -> None:
    admin = admin_client(hub)
    await admin.start()
    try:
        with contextlib.suppress(Exception):
            await admin.delete_topics(list(topics), timeout_ms=30_000)
    finally:
        await admin.close()


async def publish_sealed(
    producer: AIOKafkaProducer, namespace: str, notices: Sequence[Sealed]
) -> list[float]:
    sent = []
    futures = []
    for sealed in notices:
        futures.append(
            await producer.send(namespaced(namespace, sealed.topic), sealed.value, key=sealed.key)
        )
        sent.append(time.monotonic())
    await asyncio.gather(*futures)
    return sent


async def group_ready(hub: HubSettings, group: str, *, timeout_s: float, members: int = 1) -> bool:
    """True once `group` is Stable with at least `members` members holding partitions."""
    admin = admin_client(hub)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            described = await admin.describe_consumer_groups([group])
            groups = described[0].groups if described else []
            if groups and groups[0][2] == "Stable" and len(groups[0][5]) >= members:
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        await admin.close()


async def wait_until(predicate: Any, *, timeout_s: float, step_s: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step_s)
    return bool(predicate())


_SCRIPT = str(Path(__file__).resolve())


def _spawn(scenario: str, namespace: str, profile_dir: Path | None) -> subprocess.Popen[bytes]:
    """The scenario's processor as a child process, output to /tmp/safehub-bench-*.log."""
    argv = [sys.executable, _SCRIPT, "role", scenario, namespace]
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--profile", str(profile_dir / f"{scenario}.prof")]
    with Path(f"/tmp/safehub-bench-{namespace}.log").open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


async def _open_loop(
    producer: AIOKafkaProducer,
    namespace: str,
    stream: Sequence[Sealed],
    *,
    rate: int,
    observer: Observer,
    grace_s: float = 10.0,
) -> tuple[list[float], int]:
    """Send `stream` at `rate`/s in 50 ms ticks, whatever happens downstream (open loop);
    latency = first read_committed visibility of each notice's output - its send time."""
    sent_at: dict[bytes, float] = {}
    tick = max(0.05, 1 / rate)  # 50 ms ticks, or one notice per tick below 20/s
    per_tick = max(1, round(rate * tick))
    begin = time.monotonic()
    for index in range(0, len(stream), per_tick):
        chunk = stream[index : index + per_tick]
        times = await publish_sealed(producer, namespace, chunk)
        sent_at.update(zip((s.key for s in chunk), times, strict=True))
        next_tick = begin + (index // per_tick + 1) * tick
        await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
    await wait_until(
        lambda: len(sent_at.keys() & observer.seen.keys()) == len(sent_at), timeout_s=grace_s
    )
    latencies = [(observer.seen[k] - t) * 1000 for k, t in sent_at.items() if k in observer.seen]
    return latencies, len(sent_at)


async def run_scenario(
    scenario: str,
    hub: HubSettings,
    topology: Topology,
    *,
    run_id: str,
    preload: Sequence[Sealed],
    streams: Sequence[tuple[int, Sequence[Sealed]]],
    max_seconds: float,
    profile_dir: Path | None,
) -> Result:
    namespace = f"bench-{run_id}-{scenario}"
    topics = await _create_topics(hub, topology, namespace)
    result = Result(scenario)
    watched = {
        "b0": "bench.out",
        "b1": topology.subscribers[0].feed_topic,
        "b2": topology.subscribers[0].feed_topic,
    }.get(scenario, AUDIT_TOPIC)
    observer = Observer(
        hub,
        namespaced(namespace, watched),
        3 if watched == "bench.out" else topology.partitions(watched),
    )
    producer = make_producer(hub, "admin")
    await producer.start()
    await observer.start()
    child: subprocess.Popen[bytes] | None = None
    opa_pid = _opa_pid(hub) if scenario == "gw-opa" else None
    broker_pid = stack_pid(hub, "kafka")
    try:
        child = _spawn(scenario, namespace, profile_dir)
        group = namespaced(
            namespace, "safehub-gateway" if scenario.startswith("gw-") else "bench-group"
        )
        if not await group_ready(hub, group, timeout_s=60):
            raise RuntimeError(f"{scenario}: the processor never joined its group")
        await asyncio.sleep(2.0)  # producers initialised, fetches in flight
        # Throughput: the whole pre-load published at once, until the last output is visible.
        keys = {s.key for s in preload}

        def all_seen() -> bool:
            return len(keys & observer.seen.keys()) == len(keys)

        started = time.monotonic()
        cpu0, opa0 = cpu_seconds(child.pid), cpu_seconds(opa_pid)
        broker0 = cpu_seconds(broker_pid)
        await publish_sealed(producer, namespace, preload)
        await wait_until(all_seen, timeout_s=max_seconds)
        done = len(keys & observer.seen.keys())
        last = max((observer.seen[k] for k in keys if k in observer.seen), default=started)
        cpu1, opa1 = cpu_seconds(child.pid), cpu_seconds(opa_pid)
        broker1 = cpu_seconds(broker_pid)
        result.throughput_n = done
        result.throughput_s = (last if done == len(keys) else time.monotonic()) - started
        if cpu0 is not None and cpu1 is not None:
            result.cpu_s = cpu1 - cpu0
        if opa0 is not None and opa1 is not None:
            result.engine_cpu_s = opa1 - opa0
        if broker0 is not None and broker1 is not None:
            result.broker_cpu_s = broker1 - broker0
        # Let it catch up (bounded), then latency at fixed open-loop rates, lowest first.
        if await wait_until(all_seen, timeout_s=30):
            for rate, stream in streams:
                result.latency[rate] = await _open_loop(
                    producer, namespace, stream, rate=rate, observer=observer
                )
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
        await observer.stop()
        await producer.stop()
        await delete_topics(hub, topics)
    return result


def _print(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"{'scenario':<8} {'notices':>7} {'notices/s':>9} {'CPU s/1k':>8} {'OPA s/1k':>8} "
        f"{'Kafka s/1k':>10}  "
        f"latency (open loop): rate/s p50 ms p99 ms late"
    )
    for r in results:
        head = (
            f"{r.scenario:<8} {r.throughput_n:>7} {r.throughput:>9.1f} "
            f"{r.cpu_per_1000(r.cpu_s):>8} {r.cpu_per_1000(r.engine_cpu_s):>8} "
            f"{r.cpu_per_1000(r.broker_cpu_s):>10}  "
        )
        lines = [
            f"{rate:>6} {r.percentile(rate, 50):>6} {r.percentile(rate, 99):>6} {r.late(rate):>4}"
            for rate in sorted(r.latency)
        ] or ["   n/a"]
        print(head + lines[0])
        for line in lines[1:]:
            print(" " * len(head) + line)
    by = {r.scenario: r for r in results}

    def ratio(a: str, b: str) -> str:
        if a in by and b in by and by[b].throughput:
            return f"{by[a].throughput / by[b].throughput:.3f}"
        return "n/a"

    print()
    print(
        f"throughput ratios: gateway(OPA)/B2 {ratio('gw-opa', 'b2')}   "
        f"gateway(regopy)/B2 {ratio('gw-rego', 'b2')}   B2/B1 {ratio('b2', 'b1')}   "
        f"B1/B0 {ratio('b1', 'b0')}"
    )
    print(
        "late = sent but not visible within 10 s of the end of the open-loop phase "
        "(counted as slower than every notice that came)"
    )


LOW_RATE = {"gw-opa": 60, "gw-rego": 5}
"""A second, sustainable open-loop rate for each engine: latency when not saturated."""


async def orchestrate(args: argparse.Namespace) -> None:
    # Fresh benchmark topics make aiokafka log transient leader elections; not our figures.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    hub = HubSettings()
    topology = load_topology(hub.policies_dir)
    run_id = secrets.token_hex(3)
    chosen = [s for s in SCENARIOS if not args.only or s in args.only.split(",")]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seed = secrets.randbelow(2**31)
    low = max((LOW_RATE.get(s, 0) for s in chosen), default=0)
    print(f"preparing signed notices ({args.notices} pre-loaded, open-loop streams) ...")
    signed_fields = not args.without_field_provenance
    if not signed_fields:
        print("notices sealed WITHOUT per-field signatures (a publisher from before issue 19)")
    preload = sealed_notices(hub, topology, args.notices, seed=seed, field_provenance=signed_fields)
    high_stream = sealed_notices(
        hub, topology, args.rate * args.seconds, seed=seed + 1, field_provenance=signed_fields
    )
    low_stream = (
        sealed_notices(
            hub, topology, low * args.seconds, seed=seed + 2, field_provenance=signed_fields
        )
        if low
        else []
    )
    sizes = [len(s.value) for s in preload]
    print(f"signed notices: {sum(sizes) / max(1, len(sizes)):,.0f} bytes on average")
    print()
    print("where a notice's time goes in the gateway's own code (one core, no Kafka):")
    for line in await breakdown(hub, topology, preload[:300]):
        print(f"  {line}")
    results = []
    services = ChildIndexServices()
    if any(s.startswith("gw-") for s in chosen):
        await services.start(hub)
    try:
        for scenario in chosen:
            results.append(
                await _one_scenario(
                    scenario, args, hub, topology, run_id, preload, low_stream, high_stream
                )
            )
    finally:
        services.stop()
    _print(results, args)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def _one_scenario(
    scenario: str,
    args: argparse.Namespace,
    hub: HubSettings,
    topology: Topology,
    run_id: str,
    preload: Sequence[Sealed],
    low_stream: Sequence[Sealed],
    high_stream: Sequence[Sealed],
) -> Result:
    print(f"running {scenario} ...", flush=True)
    streams: list[tuple[int, Sequence[Sealed]]] = []
    if scenario in LOW_RATE:
        rate = LOW_RATE[scenario]
        streams.append((rate, low_stream[: rate * args.seconds]))
    streams.append((args.rate, high_stream))
    return await run_scenario(
        scenario,
        hub,
        topology,
        run_id=run_id,
        preload=preload[: args.rego_notices] if scenario == "gw-rego" else preload,
        streams=streams,
        max_seconds=args.max_seconds,
        profile_dir=args.profile,
    )


class ChildIndexServices:
    """The identity provider and a child index with a throwaway store, as child processes,
    for the gateway scenarios; those already answering on their ports are used as they are."""

    def __init__(self) -> None:
        self._children: list[subprocess.Popen[bytes]] = []
        self._scratch: Path | None = None

    async def start(self, hub: HubSettings) -> None:
        from services.cli.gateway import ensure_gateway_index_client

        ensure_gateway_index_client(hub, GatewaySettings())
        self._scratch = Path(tempfile.mkdtemp(prefix="safehub-bench-childindex-"))
        env = {**os.environ, "SAFEHUB_CHILDINDEX_STORE_PATH": str(self._scratch / "index.db")}
        for command, url in (
            (["identity", "serve"], "http://127.0.0.1:18205/.well-known/jwks.json"),
            (["childindex", "serve"], "http://127.0.0.1:18207/healthz"),
        ):
            if await _answers(url):
                print(f"using the {command[0]} already on {url}")
                continue
            self._children.append(_spawn_service(command, env))
            for _ in range(100):
                if await _answers(url):
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"{command[0]} did not start; see its log in /tmp")

    def stop(self) -> None:
        for child in self._children:
            child.terminate()
            child.wait(timeout=10)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)


def _spawn_service(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(f"/tmp/safehub-bench-{command[0]}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


async def _answers(url: str) -> bool:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=1.0) as http:
            return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def breakdown(hub: HubSettings, topology: Topology, notices: Sequence[Sealed]) -> list[str]:
    """CPU ms per notice of each step the gateway takes, measured in this process."""
    from services.gateway.domain.decisions import parse_decisions
    from services.gateway.domain.intake import accept_notice
    from services.gateway.domain.pipeline import messages_for_decisions
    from services.gateway.engines import EngineAnswer, OpaEngine, RegopyEngine, bundle_revision
    from services.hubkit.ceilings import DisclosureLimits
    from services.hubkit.envelope import KeyDirectory, seal

    catalog = SchemaCatalog(hub.schemas_dir)
    keys = KeyDirectory.load(hub.keys_dir / "trusted")
    hub_key = load_signing_key(hub.keys_dir, "gateway")
    subscribers = [s.subscriber_id for s in topology.subscribers]
    agencies = {a.topic: a for a in topology.agencies}
    relay = GatewaySettings().relay_contact
    limits = DisclosureLimits.load(hub.policies_dir)
    steps: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        started = time.process_time()
        value = fn()
        steps[name] = steps.get(name, 0.0) + time.process_time() - started
        return value

    accepted = [
        timed(
            "intake: verify + decode",
            lambda n=n: accept_notice(
                catalog=catalog, keys=keys, agency=agencies[n.topic], key=n.key, value=n.value
            ),
        )
        for n in notices
    ]
    regopy = RegopyEngine(hub.policies_dir)
    sample = accepted[:20]
    results = [
        timed("decide: regopy (in process)", lambda a=a: regopy.evaluate_sync({"notice": a.notice}))
        for a in sample
    ]
    steps["decide: regopy (in process)"] *= len(accepted) / len(sample)

    async def ask_opa() -> tuple[float, list[Any]]:
        # As the gateway asks: the batch entrypoint, `decision_batch` notices per query.
        batch = GatewaySettings().decision_batch
        engine = OpaEngine(
            hub.opa_url, revision=bundle_revision(hub.policies_dir), batch_size=batch
        )
        opa_pid = _opa_pid(hub)
        opa0 = cpu_seconds(opa_pid)
        started = time.process_time()
        answers = await engine.evaluate_many([a.notice for a in accepted])
        steps["decide: OPA client (batched)"] = time.process_time() - started
        failed = [a for a in answers if not isinstance(a, EngineAnswer)]
        if failed:
            raise RuntimeError(f"OPA gave {len(failed)} unusable answers, e.g. {failed[0]!r}")
        opa1 = cpu_seconds(opa_pid)
        await engine.close()
        return (opa1 - opa0) if opa0 is not None and opa1 is not None else float("nan"), answers

    opa_cpu, answers = await ask_opa()
    decisions = [
        timed("parse decisions", lambda r=r: parse_decisions(r.result, subscribers))
        for r in answers
    ]
    del results
    at = dt.datetime.now(dt.UTC)
    messages = [
        timed(
            "ceilings, audit records + redacted views",
            lambda a=a, d=d: (
                messages_for_decisions(
                    accepted=a,
                    decisions=d,
                    topology=topology,
                    limits=limits,
                    policy_revision="r",
                    decided_at=at,
                    relay_contact=relay,
                ).messages
            ),
        )
        for a, d in zip(accepted, decisions, strict=True)
    ]

    def encode_all(batch: Any) -> None:
        for m in batch:
            value = catalog.encode(m.message_type, m.record)
            if m.signed:
                seal(catalog, value, hub_key, at)

    for batch in messages:
        timed("Avro encode + hub signature", lambda b=batch: encode_all(b))
    per_notice = len(notices)
    lines = [f"{name:<32} {seconds / per_notice * 1000:6.2f} ms" for name, seconds in steps.items()]
    lines.append(f"{'decide: OPA server CPU':<32} {opa_cpu / per_notice * 1000:6.2f} ms")
    out_messages = sum(len(m) for m in messages) / per_notice
    lines.append(f"(each notice makes {out_messages:.1f} output records)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    role = sub.add_parser("role", help="(internal) run one scenario's processor")
    role.add_argument("scenario", choices=SCENARIOS)
    role.add_argument("namespace")
    role.add_argument("--profile", default=None)
    parser.add_argument("--notices", type=int, default=3000, help="pre-loaded for throughput")
    parser.add_argument("--rate", type=int, default=200, help="open-loop notices/s (all)")
    parser.add_argument("--seconds", type=int, default=10, help="open-loop duration")
    parser.add_argument(
        "--rego-notices", type=int, default=300, help="pre-loaded for regopy (about 17/s)"
    )
    parser.add_argument("--max-seconds", type=float, default=40.0, help="throughput time bound")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {SCENARIOS}")
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile files here")
    parser.add_argument(
        "--without-field-provenance",
        action="store_true",
        help="seal notices without the agency's per-field signatures, to measure their cost",
    )
    args = parser.parse_args(argv)
    if args.command == "role":
        return role_main(args)
    asyncio.run(orchestrate(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
