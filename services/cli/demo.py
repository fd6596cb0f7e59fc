"""`safehub demo`: the hub running, with synthetic traffic.

safehub demo                (default) the live hub: gateway, the four agency adapters, the
                            identity provider, the child index (which keys each child the
                            adapters publish about), the MASH triage console, the CP-IS
                            lookup, and the audit indexer and IG API (IG officers sign in
                            at http://127.0.0.1:18310/ig/ or with `safehub ig login`),
                            with synthetic records posted to the adapters' HTTP APIs at a
                            calm rate, as an integrator would (OAuth2 client credentials,
                            private_key_jwt). The records are about the children of the
                            synthetic population, each agency holding its own view of
                            the child (services/synthetic/traffic.py says what is sent
                            and in what shares). Prints the console's URL and the
                            synthetic sign-in users; runs until Ctrl-C.
safehub demo --once         the same hub, started the same way (`start_hub`), sent one
                            batch of --count records the same way; waits until the gateway
                            has decided them all, prints what each subscriber received, and
                            why, then stops everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.gateway.bootstrap import build_break_glass, build_gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.audit_trail import open_audit_record
from services.hubkit.bus import TopicReader
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory
from services.hubkit.errors import AuditRecordRejected
from services.hubkit.feed_items import open_feed_message
from services.hubkit.settings import HubSettings
from services.hubkit.topology import AUDIT_PRINCIPAL, AUDIT_TOPIC, load_topology

__all__ = [
    "DECIDE_WITHIN_S",
    "HubNotStarted",
    "HubService",
    "RunningHub",
    "TrafficPlan",
    "Workers",
    "adapter_path",
    "decision_summary",
    "prepare_hub",
    "register",
    "run_demo",
    "run_live",
    "serve_hub",
    "start_hub",
]

DECIDE_WITHIN_S = 120.0
"""How long --once waits for the gateway to decide its batch. Generous: the first poll waits
for the gateway's partitions to be assigned and its record of decided notices read back."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the hub with synthetic traffic and the MASH triage console (Ctrl-C stops)",
        description=(
            "Without --once: runs the gateway, the agency adapters, the identity provider, "
            "the child index, the MASH triage console, the CP-IS lookup, the audit indexer "
            "and the audit IG API, and keeps "
            "posting synthetic records to the adapters. "
            "With --once: runs the same hub, posts one batch of records, prints what each "
            "subscriber received, then stops. Needs the local stack: `safehub stack up`."
        ),
    )
    parser.add_argument(
        "--once", action="store_true", help="one batch, print each subscriber's feed, then stop"
    )
    parser.add_argument(
        "--count",
        "--notices",
        dest="count",
        type=_at_least_one,
        default=10,
        help="with --once: how many records to post (default 10)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=4.0,
        help="live mode: seconds between synthetic records (default 4)",
    )
    parser.add_argument("--engine", choices=["opa", "regopy"], default="opa")
    parser.add_argument("--seed", type=int, default=None, help="synthetic data seed")
    parser.set_defaults(handler=_handle)


def _at_least_one(text: str) -> int:
    count = int(text)
    if count < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return count


def _handle(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    if not args.once:
        return asyncio.run(
            run_live(HubSettings(), engine=args.engine, seed=seed, interval=args.interval)
        )
    return asyncio.run(run_demo(HubSettings(), count=args.count, engine=args.engine, seed=seed))


# ---- the hub in this process (both modes) ------------------------------------------------


class HubNotStarted(Exception):
    """A server or the gateway ended before the whole hub was up; everything else has been
    stopped. The message names what ended and what usually causes it."""


@dataclass(frozen=True, slots=True)
class HubService:
    """One HTTP service of the demo hub: its name as printed, its ASGI app, its port."""

    name: str
    app: Any
    port: int


class _Server(Protocol):
    """What the hub needs of a server (uvicorn's, as SignalFreeServer, has it)."""

    started: bool
    should_exit: bool

    async def serve(self) -> None: ...


class _Gateway(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Workers:
    """Background loops run and stopped as one (the gateway and the audit indexer): if one
    ends, by failing or otherwise, the others are stopped too, and the hub sees it end."""

    def __init__(self, *workers: _Gateway) -> None:
        self._workers = workers

    async def run(self) -> None:
        tasks = [asyncio.create_task(w.run()) for w in self._workers]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.stop()
            done = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome

    def stop(self) -> None:
        for worker in self._workers:
            worker.stop()


class RunningHub:
    """The hub's servers and gateway, running as tasks of this event loop. Nothing stops by
    itself while the hub runs: `ended()` names what has (a failure); `stop()` stops all."""

    def __init__(
        self,
        services: Sequence[HubService],
        servers: Sequence[_Server],
        gateway: _Gateway,
        tasks: Sequence[asyncio.Task[None]],
    ) -> None:
        self.services = tuple(services)
        self._servers = servers
        self._gateway = gateway
        self._tasks = tasks

    def ended(self) -> list[str]:
        """The servers (and gateway) that have stopped, each with its error's type if any."""
        ended = []
        for task in self._tasks:
            if not task.done():
                continue
            error = None if task.cancelled() else task.exception()
            ended.append(
                f"{task.get_name()} ({type(error).__name__})" if error else task.get_name()
            )
        return ended

    async def wait(self) -> None:
        """Until a server or the gateway stops by itself."""
        await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)

    async def stop(self) -> None:
        """Stop every server and the gateway (it commits what it decided first); idempotent."""
        for server in self._servers:
            server.should_exit = True
        self._gateway.stop()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def prepare_hub(hub: HubSettings) -> tuple[HubService, ...]:
    """The demo hub's HTTP services, ready to serve, after provisioning (idempotent) what they
    need on this machine: the agencies' signing keys, the child index's linkage secret, and
    the clients the adapters, the gateway and the console use with the local identity
    provider (the gateway's and the console's own clients of the child index included)."""
    from services.adapters.childrens_services.app import create_app as csc_app
    from services.adapters.health.app import create_app as health_app
    from services.adapters.ingest.settings import ADAPTER_PORTS, IDENTITY_PORT
    from services.adapters.police.app import create_app as police_app
    from services.adapters.voluntary_sector.app import create_app as vcs_app
    from services.audit.api import create_app as audit_app
    from services.childindex.bootstrap import childindex_app
    from services.childindex.secret import provision_linkage_secret
    from services.childindex.settings import ChildIndexSettings
    from services.cli.adapters import ensure_adapter_index_clients
    from services.cli.console import register_local_client
    from services.cli.demo_witnesses import demo_audit_settings, witness_apps
    from services.cli.gateway import ensure_gateway_index_client
    from services.cli.ig import register_ig_clients
    from services.console.app import create_app as console_app
    from services.console.settings import ConsoleSettings
    from services.cpis.bootstrap import cpis_app
    from services.cpis.settings import CpisSettings
    from services.hubkit.envelope import provision_keys
    from services.identity.app import create_app as identity_app

    topology = load_topology(hub.policies_dir)
    provision_keys(hub.keys_dir, [a.principal for a in topology.agencies])
    index = ChildIndexSettings()
    provision_linkage_secret(index.resolved_secret_path(hub.keys_dir))
    ensure_adapter_index_clients(hub, _AGENCIES)
    ensure_gateway_index_client(hub, GatewaySettings())
    console = ConsoleSettings()
    register_local_client(hub, console)
    cpis = CpisSettings()
    # Issue 19: the council's and the police's witnesses cosign the audit log's checkpoints.
    audit, witnesses = demo_audit_settings(hub)
    register_ig_clients(hub, audit)
    return (
        HubService("identity", identity_app(hub), IDENTITY_PORT),
        HubService("police adapter", police_app(hub), ADAPTER_PORTS["POLICE"]),
        HubService("health adapter", health_app(hub), ADAPTER_PORTS["HEALTH"]),
        HubService(
            "children's services adapter", csc_app(hub), ADAPTER_PORTS["CHILDRENS_SERVICES"]
        ),
        HubService("voluntary sector adapter", vcs_app(hub), ADAPTER_PORTS["VOLUNTARY_SECTOR"]),
        HubService("console", console_app(hub, console), console.port),
        HubService("CP-IS lookup", cpis_app(hub, cpis), cpis.port),
        # Keys every child the adapters publish about; the only holder of the secret.
        HubService("child index", childindex_app(hub, index), index.port),
        # The IG officer's queries over the audit log the indexer (start_hub) fills.
        HubService("audit IG API", audit_app(audit, hub), audit.api_port),
        *(HubService(*served) for served in witness_apps(hub, witnesses)),
    )


def hub_services(
    hub: HubSettings, gateway: Any, settings: GatewaySettings
) -> tuple[HubService, ...]:
    """Every HTTP service the demo serves (README "Services started by `safehub demo`" lists
    them; tests/cli keeps the two equal): `prepare_hub`'s, and the gateway's ops endpoints
    (/healthz, /readyz, /metrics) on its settings' port over the running gateway's own health
    and metrics."""
    from services.gateway.http import ops_app

    ops = HubService("gateway ops", ops_app(gateway.health, gateway.metrics), settings.http_port)
    return (*prepare_hub(hub), ops)


async def serve_hub(
    services: Sequence[HubService],
    gateway: _Gateway,
    *,
    new_server: Callable[[HubService], _Server],
) -> RunningHub:
    """Run `gateway` and a server for each of `services`; return once every server is
    listening. Raises HubNotStarted, with everything stopped again, when one ends first (or
    the gateway does); stops everything too if cancelled while starting."""
    servers = [new_server(service) for service in services]
    tasks = [asyncio.create_task(gateway.run(), name="gateway")]
    tasks += [
        asyncio.create_task(_serve(server), name=service.name)
        for server, service in zip(servers, services, strict=True)
    ]
    running = RunningHub(services, servers, gateway, tasks)
    try:
        while not (ended := running.ended()):
            if all(server.started for server in servers):
                return running
            await asyncio.sleep(0.1)
        ports = ", ".join(str(s.port) for s in sorted(services, key=lambda s: s.port))
        raise HubNotStarted(
            f"could not start {', '.join(ended)}; is one of ports {ports} in use, "
            "or the stack down (`safehub stack up`)?"
        )
    except BaseException:
        await running.stop()
        raise


async def _serve(server: _Server) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn exits the process when it cannot listen (a port in use). Here that ends
        # this server's task only: the hub names it and stops the rest.
        return


async def start_hub(hub: HubSettings, *, engine: str) -> RunningHub:
    """The whole hub in this event loop, as both modes of the demo run it: the identity
    provider, the four adapters, the console, the CP-IS lookup and the child index over
    HTTP (`prepare_hub`), and the gateway with `engine`. Returns once every server is
    listening; raises HubNotStarted (with everything stopped) when one cannot start."""
    import logging

    import uvicorn

    from services.audit.service import build_indexer
    from services.cli.demo_witnesses import demo_audit_settings
    from services.hubkit.http_server import SignalFreeServer
    from services.hubkit.tls import server_tls_options

    settings = GatewaySettings.model_validate({"engine": engine})
    gateway = build_gateway(hub, settings)
    # As `safehub gateway run` serves it: the ops endpoints and the emergency access desk
    # beside the decision loop (without the desk, a console's emergency request would wait
    # for an answer that never comes).
    break_glass = build_break_glass(hub, settings, gateway.metrics)
    services = hub_services(hub, gateway, settings)
    # The audit indexer runs beside the gateway: it fills the log the IG API reads. Its
    # per-record warnings (a rejected record: kept as a `rejected` leaf, listed by
    # GET /v1/rejections) would drown the demo's own output on a broker with history.
    logging.getLogger("safehub.audit").setLevel(logging.ERROR)
    workers = Workers(gateway, break_glass, build_indexer(hub, demo_audit_settings(hub)[0]))

    def new_server(service: HubService) -> SignalFreeServer:
        return SignalFreeServer(
            uvicorn.Config(
                service.app,
                host="127.0.0.1",
                port=service.port,
                log_level="warning",
                lifespan="on",
                ws="none",
                # Open pages hold a live event stream; without a limit, stopping would wait
                # for every browser tab to close.
                timeout_graceful_shutdown=3,
                **server_tls_options(hub),
            )
        )

    return await serve_hub(services, workers, new_server=new_server)


# ---- synthetic traffic, as the agencies' systems send it (both modes) -------------------

_AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")
_SENDERS = {
    "POLICE": "police",
    "HEALTH": "health (FHIR)",
    "CHILDRENS_SERVICES": "children's services",
    "VOLUNTARY_SECTOR": "voluntary sector",
}
_PATHS = {
    "POLICE": "/v1/occurrences",
    "HEALTH": "/v1/fhir/Bundle",
    "CHILDRENS_SERVICES": "/v1/cin-records",
    "VOLUNTARY_SECTOR": "/v1/updates",
}
# Police and children's services send an NRM referral on its own route (no record_type).
_NRM_PATH = "/v1/nrm-referrals"


def adapter_path(agency: str, document: dict[str, Any]) -> str:
    """The adapter route that takes `document`."""
    if agency in ("POLICE", "CHILDRENS_SERVICES") and "record_type" not in document:
        return _NRM_PATH
    return _PATHS[agency]


class _Integrators:
    """The four agencies' systems as integrators see the hub: a registered client each, an
    access token from the identity provider (client credentials, private_key_jwt), and the
    adapter's HTTP API."""

    def __init__(self, hub: HubSettings, http: Any) -> None:
        from services.identity.settings import IdentitySettings

        self._hub = hub
        self._http = http
        self._identity = IdentitySettings()
        self._clients = {agency: self._client(agency) for agency in _AGENCIES}
        self._tokens: dict[str, tuple[str, float]] = {}

    def _client(self, agency: str) -> tuple[str, Any]:
        """A demo client for `agency`, registered once and reused by later demos."""
        from services.identity.clients import FileClientRegistry, register_client

        state_dir = self._identity.resolved_state_dir(self._hub.data_dir)
        keys_dir = self._hub.data_dir / "integrators"
        client_id = f"demo-{agency.lower().replace('_', '-')}"
        key = keys_dir / f"{client_id}.pem"
        if FileClientRegistry(state_dir / "clients").get(client_id) is None:
            register_client(
                state_dir=state_dir, keys_out_dir=keys_dir, agency=agency, client_id=client_id
            )
        return client_id, key

    async def token(self, agency: str) -> str:
        import time

        from services.identity.assertions import client_assertion_from_file
        from services.identity.domain import CLIENT_ASSERTION_TYPE

        cached = self._tokens.get(agency)
        if cached and cached[1] > time.time() + 60:
            return cached[0]
        client_id, key = self._clients[agency]
        answer = await self._http.post(
            self._identity.token_endpoint,
            data={
                "grant_type": "client_credentials",
                "client_assertion_type": CLIENT_ASSERTION_TYPE,
                "client_assertion": client_assertion_from_file(
                    key, client_id=client_id, token_endpoint=self._identity.token_endpoint
                ),
            },
        )
        answer.raise_for_status()
        body = answer.json()
        self._tokens[agency] = (body["access_token"], time.time() + body["expires_in"])
        return str(body["access_token"])

    async def post(self, agency: str, document: dict[str, Any]) -> tuple[int, str]:
        from services.adapters.ingest.settings import ADAPTER_PORTS

        headers = {"Authorization": f"Bearer {await self.token(agency)}"}
        if agency == "HEALTH":
            headers["Content-Type"] = "application/fhir+json"
        answer = await self._http.post(
            f"http://127.0.0.1:{ADAPTER_PORTS[agency]}{adapter_path(agency, document)}",
            content=json.dumps(document),
            headers={"Content-Type": "application/json", **headers},
        )
        if answer.status_code == 202:
            return 202, str(answer.json()["notice_id"])
        return answer.status_code, str(answer.json().get("title", answer.text[:80]))


class TrafficPlan:
    """What to send next: records about the synthetic population's children, the same child
    coming back through different agencies, each agency with its own view of the child's
    identifiers (services/synthetic/traffic.py). Deterministic for a seed; `next()` gives
    the agency and its native document (`adapter_path` says where it goes)."""

    def __init__(self, seed: int, now: dt.datetime) -> None:
        from services.synthetic.traffic import PopulationTraffic

        self._traffic = PopulationTraffic(seed=seed, now=now, run=f"DEMO{int(now.timestamp())}")

    def next(self) -> tuple[str, dict[str, Any]]:
        sent = self._traffic.next()
        return sent.agency, sent.document


def _kind(document: dict[str, Any]) -> str:
    return str(document.get("record_type") or document.get("kind") or document.get("resourceType"))


async def _send(integrators: _Integrators, agency: str, document: dict[str, Any]) -> str | None:
    """Post one record as its agency's system would and print the adapter's answer; the
    notice id when the adapter accepted it."""
    status, detail = await integrators.post(agency, document)
    outcome = f"202, notice {detail[:8]}" if status == 202 else f"{status} {detail}"
    print(f"  {_SENDERS[agency]:<20} {_kind(document):<26} {outcome}")
    return detail if status == 202 else None


async def _feed_traffic(integrators: _Integrators, plan: TrafficPlan, interval: float) -> None:
    while True:
        agency, document = plan.next()
        try:
            await _send(integrators, agency, document)
        except Exception as error:  # the adapter may still be starting: say so, keep going
            print(f"  {_SENDERS[agency]:<20} not sent ({type(error).__name__}); trying again")
        await asyncio.sleep(interval)


# ---- live mode ---------------------------------------------------------------------------


async def run_live(hub: HubSettings, *, engine: str, seed: int, interval: float) -> int:
    """Run the whole hub in this process until Ctrl-C (or SIGTERM)."""
    import signal

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        running = await _start_unless_stopped(hub, engine=engine, stopping=stopping)
        if running is None:
            return 1
        try:
            await _live(hub, running, seed=seed, interval=interval, stopping=stopping)
        finally:
            await running.stop()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    return 0


async def _start_unless_stopped(
    hub: HubSettings, *, engine: str, stopping: asyncio.Event
) -> RunningHub | None:
    """`start_hub`, given up (everything stopped) when Ctrl-C comes first; None, said why,
    when the hub did not start."""
    starting = asyncio.create_task(start_hub(hub, engine=engine))
    asked = asyncio.create_task(stopping.wait())
    await asyncio.wait([starting, asked], return_when=asyncio.FIRST_COMPLETED)
    asked.cancel()
    if not starting.done():
        starting.cancel()
        await asyncio.wait([starting])
    if starting.cancelled():
        print("safehub: stopped before the hub had started")
        return None
    if isinstance(error := starting.exception(), HubNotStarted):
        print(f"safehub: {error}")
        return None
    return starting.result()


async def _live(
    hub: HubSettings, running: RunningHub, *, seed: int, interval: float, stopping: asyncio.Event
) -> None:
    from services.adapters.ingest.settings import IDENTITY_PORT
    from services.cli.console import print_users
    from services.console.settings import ConsoleSettings
    from services.hubkit.tls import http_client

    console = ConsoleSettings()
    print("\nsafehub demo: the hub is running with synthetic traffic (synthetic data only).\n")
    print(f"  MASH triage console: {console.base_url}  (open it in a browser)\n")
    print_users(hub, indent="  ")
    print(f"\n  {'identity provider':<30}http://127.0.0.1:{IDENTITY_PORT}")
    hints = {
        "CP-IS lookup": "(a clinician's token for it: `safehub cpis token`)",
        "audit IG API": "(IG officers: sign in at /ig/ in a browser, or `safehub ig login`)",
    }
    for service in running.services:
        if service.name.endswith(" witness"):  # a partner's witness has no /docs (issue 19)
            hints[service.name] = "(cosigns each audit checkpoint: POST /add-checkpoint)"
        if service.name not in ("identity", "console"):
            docs = "" if service.name.endswith(" witness") else "/docs"
            print(f"  {service.name:<30}http://127.0.0.1:{service.port}{docs}")
            if service.name in hints:
                print(f"  {'':<30}{hints[service.name]}")
    print(
        "\n  Stop with Ctrl-C. The broker and OPA keep running: `safehub stack down` stops "
        "them.\n\n  Synthetic records posted to the adapters, one every "
        f"{interval:g}s (sender, record, the adapter's answer):"
    )
    async with http_client(hub, timeout=15) as http:
        feeder = asyncio.create_task(
            _feed_traffic(
                _Integrators(hub, http), TrafficPlan(seed, dt.datetime.now(dt.UTC)), interval
            )
        )
        watch = [asyncio.create_task(stopping.wait()), asyncio.create_task(running.wait())]
        _, waiting = await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
        for task in waiting:
            task.cancel()
        print("\nsafehub demo: stopping")
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder


# ---- --once ------------------------------------------------------------------------------


async def run_demo(
    hub: HubSettings, *, count: int, engine: str, seed: int, within_s: float = DECIDE_WITHIN_S
) -> int:
    """One batch through the whole hub, started and sent to as the live demo does: `count`
    records of the traffic plan posted to the adapters over HTTP, keyed by the child index,
    decided by the gateway (with each child's context from the index) and delivered to the
    feeds. Prints what each subscriber received, then stops everything. 0, or 1 when the
    hub did not start, an adapter refused a record or the gateway did not decide every
    notice within `within_s`."""
    from services.hubkit.tls import http_client

    topology = load_topology(hub.policies_dir)
    catalog = SchemaCatalog(hub.schemas_dir)
    print(f"safehub demo --once: starting the hub (synthetic data only; seed {seed})")
    try:
        running = await start_hub(hub, engine=engine)
    except HubNotStarted as failed:
        print(f"safehub: {failed}")
        return 1
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(running.stop)
        # Observers from the topics' current ends, placed before anything is sent, reading
        # without a consumer group (nobody's offsets move). The decisions log, read as the
        # audit service reads it, says when the gateway has dealt with a notice: it writes
        # a notice's audit records, feed items and dead letter in one transaction.
        audit = await _reader(hub, AUDIT_PRINCIPAL, AUDIT_TOPIC, topology.partitions(AUDIT_TOPIC))
        stack.push_async_callback(audit.stop)
        feeds = {}
        for subscriber in topology.subscribers:
            feeds[subscriber.subscriber_id] = feed = await _reader(
                hub,
                subscriber.principal,
                subscriber.feed_topic,
                topology.partitions(subscriber.feed_topic),
            )
            stack.push_async_callback(feed.stop)
        http = await stack.enter_async_context(http_client(hub, timeout=15))

        print(f"\n{count} synthetic records posted to the adapters (sender, record, answer):")
        integrators = _Integrators(hub, http)
        plan = TrafficPlan(seed, dt.datetime.now(dt.UTC))
        began = time.monotonic()
        sent: list[str] = []
        for _ in range(count):
            agency, document = plan.next()
            try:
                notice_id = await _send(integrators, agency, document)
            except Exception as error:  # said, and counted as a failure below
                print(f"  {_SENDERS[agency]:<20} not sent ({type(error).__name__})")
                notice_id = None
            if notice_id is not None and notice_id not in sent:
                sent.append(notice_id)

        hub_keys = KeyDirectory.load(hub.keys_dir / "trusted")
        audits = await _audits_of(audit, set(sent), running, catalog, hub_keys, within_s=within_s)
        waited = time.monotonic() - began
        decided = {record["notice_id"] for record in audits}
        print()
        for subscriber in topology.subscribers:
            records = await feeds[subscriber.subscriber_id].drain(quiet_s=1.0)
            messages = [open_feed_message(catalog, hub_keys, r.value) for r in records]
            # Withdrawals and emergency access answers (FeedRetraction, BreakGlassAlert,
            # BreakGlassRefusal) are not views of the demo's notices.
            items = [m.record for m in messages if m.message_type is MessageType.FEED_ITEM]
            items = [i for i in items if i["notice_id"] in decided]
            print(f"== {subscriber.subscriber_id} ({subscriber.role}): {len(items)} of {len(sent)}")
            for item in sorted(items, key=lambda i: i["notice_type"]):
                fields = len(json.loads(item["view_json"]))
                print(
                    f"   {item['outcome']:<9} {item['notice_type']:<26} "
                    f"{fields} top-level fields, {len(item['fields_withheld'])} withheld; "
                    f"rules {','.join(item['rule_ids'])}"
                )
                print(f"             {item['explanation']}")
        print(f"\n{decision_summary(audits)}")
        print(await _cosigned(hub, decided))

        failures = []
        if len(sent) < count:
            failures.append(f"the adapters accepted {len(sent)} of {count} records")
        if missing := len(set(sent) - decided):
            failures.append(
                f"the gateway did not decide {missing} of {len(sent)} notices within "
                f"{within_s:g} s (see its logs)"
            )
        if ended := running.ended():
            failures.append(f"stopped by itself: {', '.join(ended)}")
        if failures:
            print(f"safehub demo --once: {'; '.join(failures)}")
            return 1
        print(f"all {len(sent)} decided {waited:.1f} s after the first was posted")
    return 0


async def _cosigned(hub: HubSettings, decided: set[str]) -> str:
    """Whether the partners' witnesses cosigned the audit log's checkpoint of this batch."""
    from services.cli.demo_witnesses import demo_audit_settings, wait_until_cosigned

    audit, _ = demo_audit_settings(hub)
    # The indexer signs every checkpoint_interval_s, then submits to the witnesses.
    within_s = audit.checkpoint_interval_s * 3 + audit.witness_timeout_s
    return await wait_until_cosigned(hub, audit, decided, within_s=within_s)


async def _reader(hub: HubSettings, principal: str, topic: str, partitions: int) -> TopicReader:
    return await TopicReader(hub, principal, topic, partitions=partitions).start()


async def _audits_of(
    audit: TopicReader,
    notice_ids: set[str],
    running: RunningHub,
    catalog: SchemaCatalog,
    keys: KeyDirectory,
    *,
    within_s: float,
) -> list[dict[str, Any]]:
    """The hub-signed audit records of `notice_ids`, read until every notice has one, a part
    of the hub has stopped, or `within_s` has passed; then what else arrives promptly (a
    transaction's records need not come in one fetch)."""
    found: list[dict[str, Any]] = []
    decided: set[str] = set()
    read = 0

    def take(records: Sequence[Any]) -> None:
        for r in records:
            try:
                record = open_audit_record(catalog, r.value, keys, topic=AUDIT_TOPIC).record
            except AuditRecordRejected:
                continue  # not the gateway's: nothing this demo sent
            if record["notice_id"] in notice_ids:
                found.append(record)
                decided.add(record["notice_id"])

    def done(records: list[Any]) -> bool:
        nonlocal read
        take(records[read:])
        read = len(records)
        return decided >= notice_ids or bool(running.ended())

    if notice_ids:
        await audit.read_until(done, timeout_s=within_s)
        take(await audit.drain(quiet_s=1.0))
    return found


def decision_summary(records: Iterable[Mapping[str, Any]]) -> str:
    """One line about a batch from its audit records: how many notices were decided and about
    how many children (their keys from the child index), how many rejected and why, and the
    outcomes of the decisions, per subscriber decision."""
    decided: set[str] = set()
    children: set[str] = set()
    rejected: dict[str, str] = {}
    outcomes: Counter[str] = Counter()
    for record in records:
        if record["event"] == "NOTICE_REJECTED":
            rejected[record["notice_id"]] = str(record["reason_code"])
            continue
        decided.add(record["notice_id"])
        children.add(record["subject_linkage_key"])
        outcomes[str(record["outcome"])] += 1
    reasons = Counter(rejected.values())
    why = f" ({', '.join(f'{r} {n}' for r, n in sorted(reasons.items()))})" if reasons else ""
    return (
        f"decided {len(decided)} notices about {len(children)} children, "
        f"rejected {len(rejected)}{why}; outcomes {dict(sorted(outcomes.items()))}"
    )
