"""`safehub demo`: the hub running, with synthetic traffic.

safehub demo                (default) the live hub: gateway, the four agency adapters, the
                            identity provider, the child index (which keys each child the
                            adapters publish about), the MASH triage console and the CP-IS
                            lookup,
                            with synthetic records posted to the adapters' HTTP APIs at a
                            calm rate, as an integrator would (OAuth2 client credentials,
                            private_key_jwt). Prints the console's URL and the synthetic
                            sign-in users; runs until Ctrl-C.
safehub demo --once         one batch of synthetic notices through the broker, gateway and
                            policy engine, then what each subscriber received, and why.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
from typing import Any

from services.childindex.domain import LinkageKeyer
from services.gateway.bootstrap import build_gateway
from services.gateway.settings import GatewaySettings
from services.hubkit.bus import TopicReader, make_producer
from services.hubkit.codec import MessageType, SchemaCatalog
from services.hubkit.envelope import KeyDirectory, load_signing_key, open_envelope
from services.hubkit.notice import DETAIL_RECORD
from services.hubkit.publisher import NoticePublisher
from services.hubkit.settings import HubSettings
from services.hubkit.topology import load_topology
from services.synthetic.notices import SyntheticNotices

__all__ = ["TrafficPlan", "register", "run_demo", "run_live"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the hub with synthetic traffic and the MASH triage console (Ctrl-C stops)",
        description=(
            "Without --once: runs the gateway, the agency adapters, the identity provider, "
            "the MASH triage console and the CP-IS lookup, and keeps posting synthetic records "
            "to the adapters. "
            "With --once: sends one batch of notices and prints what each subscriber "
            "received. Needs the local stack: `safehub stack up`."
        ),
    )
    parser.add_argument(
        "--once", action="store_true", help="one batch, print each subscriber's feed, then stop"
    )
    parser.add_argument(
        "--notices", type=int, default=10, help="with --once: how many notices to send"
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


def _handle(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    if not args.once:
        return asyncio.run(
            run_live(HubSettings(), engine=args.engine, seed=seed, interval=args.interval)
        )
    asyncio.run(run_demo(HubSettings(), count=args.notices, engine=args.engine, seed=seed))
    return 0


async def run_demo(settings: HubSettings, *, count: int, engine: str, seed: int) -> None:
    topology = load_topology(settings.policies_dir)
    catalog = SchemaCatalog(settings.schemas_dir)
    # Synthetic notices made here, not by an adapter: keyed with a throwaway secret of the
    # demo's own (the hub's linkage secret is the child index's alone).
    generator = SyntheticNotices(
        seed=seed, keyer=LinkageKeyer(secrets.token_bytes(32)), now=dt.datetime.now(dt.UTC)
    )
    feeds = {
        s.subscriber_id: await TopicReader(
            settings, s.principal, s.feed_topic, partitions=topology.partitions(s.feed_topic)
        ).start()
        for s in topology.subscribers
    }

    gateway = build_gateway(settings, GatewaySettings.model_validate({"engine": engine}))
    running = asyncio.create_task(gateway.run())

    types = sorted(DETAIL_RECORD)
    sent: list[dict[str, Any]] = []
    producers: dict[str, NoticePublisher] = {}
    kafka_producers = []
    for i in range(count):
        notice = generator.notice(types[i % len(types)])
        agency = topology.agency(notice["source"]["agency"])
        if agency.code not in producers:
            producer = make_producer(settings, agency.principal)
            await producer.start()
            kafka_producers.append(producer)
            producers[agency.code] = NoticePublisher(
                producer=producer,
                catalog=catalog,
                agency=agency,
                signing_key=load_signing_key(settings.keys_dir, agency.principal),
            )
        await producers[agency.code].publish(notice)
        sent.append(notice)
        print(f"sent  {notice['notice_type']:<26} from {agency.code:<18} id {notice['notice_id']}")
    for producer in kafka_producers:
        await producer.stop()

    wanted = {n["notice_id"] for n in sent}
    deadline = asyncio.get_running_loop().time() + 60
    while gateway.stats.notices_decided + gateway.stats.notices_rejected < len(wanted):
        if asyncio.get_running_loop().time() > deadline:
            print("gateway did not decide every notice within 60 s; see its logs")
            break
        await asyncio.sleep(0.2)
    gateway.stop()
    await running

    hub_keys = KeyDirectory.load(settings.keys_dir / "trusted")
    print()
    for subscriber in topology.subscribers:
        records = await feeds[subscriber.subscriber_id].drain(quiet_s=1.0)
        await feeds[subscriber.subscriber_id].stop()
        items = [
            catalog.decode(open_envelope(catalog, r.value, hub_keys).payload, MessageType.FEED_ITEM)
            for r in records
        ]
        items = [i for i in items if i["notice_id"] in wanted]
        print(f"== {subscriber.subscriber_id} ({subscriber.role}): {len(items)} of {len(sent)}")
        for item in sorted(items, key=lambda i: i["notice_type"]):
            fields = len(json.loads(item["view_json"]))
            print(
                f"   {item['outcome']:<9} {item['notice_type']:<26} "
                f"{fields} top-level fields, {len(item['fields_withheld'])} withheld; "
                f"rules {','.join(item['rule_ids'])}"
            )
            print(f"             {item['explanation']}")
    print(
        f"\ndecided {gateway.stats.notices_decided}, rejected {gateway.stats.notices_rejected}, "
        f"outcomes {dict(gateway.stats.outcomes)}"
    )


# ---- live mode ---------------------------------------------------------------------------

_LIVE_AGENCIES = ("POLICE", "HEALTH", "CHILDRENS_SERVICES", "VOLUNTARY_SECTOR")
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


class _Integrators:
    """The four agencies' systems as integrators see the hub: a registered client each, an
    access token from the identity provider (client credentials, private_key_jwt), and the
    adapter's HTTP API."""

    def __init__(self, hub: HubSettings, http: Any) -> None:
        from services.identity.settings import IdentitySettings

        self._hub = hub
        self._http = http
        self._identity = IdentitySettings()
        self._clients = {agency: self._client(agency) for agency in _LIVE_AGENCIES}
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
            f"http://127.0.0.1:{ADAPTER_PORTS[agency]}{_PATHS[agency]}",
            content=json.dumps(document),
            headers={"Content-Type": "application/json", **headers},
        )
        if answer.status_code == 202:
            return 202, str(answer.json()["notice_id"])
        return answer.status_code, str(answer.json().get("title", answer.text[:80]))


class TrafficPlan:
    """What to send next: mostly single records, some about a child already seen (so
    chronologies grow), and now and then the same child seen by police, health and
    children's services in one week. Deterministic for a seed."""

    def __init__(self, seed: int, now: dt.datetime) -> None:
        import random

        from services.synthetic.native import NativeRecords

        run = f"DEMO{int(now.timestamp())}"
        self._records = NativeRecords(seed=seed, now=now, run=run)
        self._rng = random.Random(seed)
        self._recent: list[Any] = []
        self._queue: list[tuple[str, dict[str, Any]]] = []

    def next(self) -> tuple[str, dict[str, Any]]:
        if not self._queue:
            self._queue = self._plan()
        return self._queue.pop(0)

    def _plan(self) -> list[tuple[str, dict[str, Any]]]:
        roll = self._rng.random()
        if roll < 0.15:
            week = self._records.linked_week()
            self._remember(week.child)
            return [
                ("POLICE", week.police_dash),
                ("HEALTH", week.health_bundle),
                ("CHILDRENS_SERVICES", week.csc_referral),
            ]
        agency = self._rng.choice(_LIVE_AGENCIES)
        child = self._rng.choice(self._recent) if self._recent and roll < 0.5 else None
        child = child or self._records.child()
        self._remember(child)
        return [(agency, self._records.record(agency, child))]

    def _remember(self, child: Any) -> None:
        self._recent = [*self._recent[-19:], child]


def _kind(document: dict[str, Any]) -> str:
    return str(document.get("record_type") or document.get("kind") or document.get("resourceType"))


async def _feed_traffic(integrators: _Integrators, plan: TrafficPlan, interval: float) -> None:
    while True:
        agency, document = plan.next()
        try:
            status, detail = await integrators.post(agency, document)
        except Exception as error:  # the adapter may still be starting: say so, keep going
            print(f"  {_SENDERS[agency]:<20} not sent ({type(error).__name__}); trying again")
        else:
            outcome = f"202, notice {detail[:8]}" if status == 202 else f"{status} {detail}"
            print(f"  {_SENDERS[agency]:<20} {_kind(document):<26} {outcome}")
        await asyncio.sleep(interval)


async def run_live(hub: HubSettings, *, engine: str, seed: int, interval: float) -> int:
    """Run the whole hub in this process until Ctrl-C (or SIGTERM)."""
    import contextlib
    import signal

    import uvicorn

    from services.adapters.childrens_services.app import create_app as csc_app
    from services.adapters.health.app import create_app as health_app
    from services.adapters.ingest.settings import ADAPTER_PORTS, IDENTITY_PORT
    from services.adapters.police.app import create_app as police_app
    from services.adapters.voluntary_sector.app import create_app as vcs_app
    from services.childindex.bootstrap import childindex_app
    from services.childindex.secret import provision_linkage_secret
    from services.childindex.settings import ChildIndexSettings
    from services.cli.adapters import ensure_adapter_index_clients
    from services.cli.console import print_users, register_local_client
    from services.console.app import create_app as console_app
    from services.console.settings import ConsoleSettings
    from services.cpis.bootstrap import cpis_app
    from services.cpis.settings import CpisSettings
    from services.hubkit.envelope import provision_keys
    from services.hubkit.http_server import SignalFreeServer
    from services.hubkit.tls import http_client, server_tls_options
    from services.identity.app import create_app as identity_app

    topology = load_topology(hub.policies_dir)
    provision_keys(hub.keys_dir, [a.principal for a in topology.agencies])
    index = ChildIndexSettings()
    provision_linkage_secret(index.resolved_secret_path(hub.keys_dir))
    ensure_adapter_index_clients(hub, _LIVE_AGENCIES)
    console = ConsoleSettings()
    register_local_client(hub, console)
    cpis = CpisSettings()
    apps = [
        ("identity", identity_app(hub), IDENTITY_PORT),
        ("police adapter", police_app(hub), ADAPTER_PORTS["POLICE"]),
        ("health adapter", health_app(hub), ADAPTER_PORTS["HEALTH"]),
        ("children's services adapter", csc_app(hub), ADAPTER_PORTS["CHILDRENS_SERVICES"]),
        ("voluntary sector adapter", vcs_app(hub), ADAPTER_PORTS["VOLUNTARY_SECTOR"]),
        ("console", console_app(hub, console), console.port),
        ("CP-IS lookup", cpis_app(hub, cpis), cpis.port),
        # Keys every child the adapters publish about; the only holder of the secret.
        ("child index", childindex_app(hub, index), index.port),
    ]
    servers = [
        SignalFreeServer(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                log_level="warning",
                lifespan="on",
                ws="none",
                # Open pages hold a live event stream; without a limit, stopping would wait
                # for every browser tab to close.
                timeout_graceful_shutdown=3,
                **server_tls_options(hub),
            )
        )
        for _, app, port in apps
    ]
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    gateway = build_gateway(hub, GatewaySettings.model_validate({"engine": engine}))
    tasks = [asyncio.create_task(gateway.run(), name="gateway")]
    tasks += [
        asyncio.create_task(server.serve(), name=name)
        for server, (name, _, _) in zip(servers, apps, strict=True)
    ]
    while not all(s.started for s in servers):
        failed = [t for t in tasks if t.done()]
        if failed or stopping.is_set():
            for server in servers:
                server.should_exit = True
            gateway.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            names = ", ".join(t.get_name() for t in failed)
            print(
                f"safehub: could not start {names or 'the demo'}; is a port in use "
                f"(18201-18207, {console.port}) or the stack down (`safehub stack up`)?"
            )
            return 1
        await asyncio.sleep(0.1)

    print("\nsafehub demo: the hub is running with synthetic traffic (synthetic data only).\n")
    print(f"  MASH triage console: {console.base_url}  (open it in a browser)\n")
    print_users(hub, indent="  ")
    print(f"\n  {'identity provider':<30}http://127.0.0.1:{IDENTITY_PORT}")
    for name, _, port in [*apps[1:5], apps[6], apps[7]]:
        print(f"  {name:<30}http://127.0.0.1:{port}/docs")
    print(f"  {'':<30}(a clinician's token for it: `safehub cpis token`)")
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
        watch = [asyncio.create_task(stopping.wait()), *tasks]
        await asyncio.wait(watch, return_when=asyncio.FIRST_COMPLETED)
        print("\nsafehub demo: stopping")
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await feeder
    for server in servers:
        server.should_exit = True
    gateway.stop()
    await asyncio.gather(*tasks, return_exceptions=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(signum)
    return 0
